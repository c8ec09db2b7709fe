"""arq, from its own venv (var/race-arq: arq requires redis<6, FairQueue redis>=8.1): the enqueue
loops run in a helper process (tests/perf/race/arq_side.py) the harness times by a go/done line."""

from __future__ import annotations

import os
import subprocess

from tests.perf.race.adaptors.base import Adaptor, Context, Unavailable
from tests.perf.race.measure import Phase, ScenarioError
from tests.processes import ROOT

VENV = ROOT / "var" / "race-arq"
SIDE = "tests.perf.race.arq_side"
POLL_DELAY = 0.001  # arq default 0.5 s: a poll stops at a full semaphore, so max_jobs=1 ran 2 tasks/s


class ArqAdaptor(Adaptor):
    name = "arq"
    batch_note = "a loop of `enqueue_job`: arq has no batch enqueue"
    config = (
        "`arq tests.perf.race.arq_side.WorkerSettings` (asyncio) with max_jobs=N and poll_delay=1 ms (see the "
        "notes), arq's defaults otherwise (results kept 1 h); tasks use the worker's `ctx['redis']`; "
        "its own venv with redis-py 5"
    )

    def setup(self, ctx: Context) -> None:
        super().setup(ctx)
        python = VENV / "bin" / "python"
        if not python.exists():
            raise Unavailable(f"no venv at {VENV} (`make race` makes it)")
        probe = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m, arq; print(m.version('arq'), m.version('redis'))"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        if probe.returncode:
            raise Unavailable(f"arq does not import: {probe.stderr.strip().splitlines()[-1:]}")
        arq_version, redis_version = probe.stdout.split()
        self.python, self._version = python, f"{arq_version} (redis-py {redis_version})"

    def version(self) -> str:
        return self._version

    def _side(self, kind: str, n: int, *extra: int, phase: Phase | None = None) -> None:
        """Start the helper, wait for its "ready", then time from "go" to its "done"."""
        argv = [str(self.python), "-m", SIDE, kind, str(n), *map(str, extra)]
        env = self.worker_env(1)
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            if proc.stdout.readline().strip() != "ready":
                raise ScenarioError("arq helper failed", f"exit {proc.wait()}")
            if phase is None:
                self._go(proc)
            else:
                with phase:
                    self._go(proc)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    @staticmethod
    def _go(proc: subprocess.Popen) -> None:
        proc.stdin.write("go\n")
        proc.stdin.flush()
        if proc.stdout.readline().strip() != "done":
            raise ScenarioError("arq helper failed", f"exit {proc.wait()}")

    def enqueue_single(self, n: int, phase: Phase) -> None:
        self._side("single", n, phase=phase)

    def enqueue_batch(self, n: int, phase: Phase) -> None:
        self._side("batch", n, phase=phase)

    def enqueue_one(self) -> None:
        self._side("single", 1)

    def enqueue_noisy(self, heavy_n: int, tenants: int, per_tenant: int) -> None:
        self._side("noisy", heavy_n, tenants, per_tenant)

    def worker_argv(self, concurrency: int) -> list[str]:
        return [str(VENV / "bin" / "arq"), f"{SIDE}.WorkerSettings"]

    def worker_env(self, concurrency: int) -> dict[str, str]:
        env = {**super().worker_env(concurrency), "RACE_CONCURRENCY": str(concurrency)}
        return {**env, "RACE_ARQ_POLL_DELAY": os.environ.get("RACE_ARQ_POLL_DELAY", str(POLL_DELAY))}


ADAPTOR = ArqAdaptor()
