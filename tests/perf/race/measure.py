"""What the race measures, the same way for every library: Redis cost from INFO around a
phase, completion from the one counter the tasks INCR, worker processes started, watched
and always killed (their own process group, so pools and forks go too)."""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.perf.race.body import COUNTER, LATENCIES
from tests.processes import ROOT

POLL = 0.005  # seconds between counter reads: < 1 % of the shortest timed drain
HEAVY_N, LIGHT_TENANTS, LIGHT_PER_TENANT = 2000, 5, 10  # the noisy neighbour's defaults


class ScenarioError(Exception):
    """One measure of one run failed (timeout, dead worker): its cell says why, the race goes on."""

    def __init__(self, short: str, detail: str = "") -> None:
        super().__init__(f"{short}: {detail}" if detail else short)
        self.short = short


@dataclass(frozen=True)
class Snapshot:
    cpu: float  # used_cpu_sys + used_cpu_user, seconds
    calls: int  # sum of commandstats calls (commands run inside Lua scripts included)
    writes: int  # total_writes_processed: reply writes to clients, about one per round trip
    own: int  # commands the probe had sent before this snapshot's INFO


@dataclass(frozen=True)
class Cost:
    """Redis's work between two snapshots, less the probe's own commands and replies."""

    cpu_s: float
    calls: int
    writes: int

    @classmethod
    def between(cls, a: Snapshot, b: Snapshot) -> Cost:
        own = b.own - a.own  # a's INFO and the polls (b's INFO is not counted in b yet)
        return cls(b.cpu - a.cpu, b.calls - a.calls - own, b.writes - a.writes - own)


class Probe:
    """The harness's own connection to the race Redis; counts what it sends, to subtract it."""

    def __init__(self, url: str) -> None:
        self.redis = redis.Redis.from_url(url, socket_timeout=30)
        self.sent = 0

    def command(self, *args):
        self.sent += 1
        return self.redis.execute_command(*args)

    def snapshot(self) -> Snapshot:
        own = self.sent
        info = self.command("INFO", "cpu", "commandstats", "stats")
        calls = sum(v["calls"] for k, v in info.items() if k.startswith("cmdstat_"))
        cpu = float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
        return Snapshot(cpu, calls, int(info["total_writes_processed"]), own)

    def done(self) -> int:
        return int(self.command("GET", COUNTER) or 0)

    def light_done(self) -> int:
        return int(self.command("LLEN", LATENCIES))

    def light_latencies(self) -> list[float]:
        return [float(v) for v in self.command("LRANGE", LATENCIES, 0, -1)]

    def flushall(self) -> None:
        self.command("FLUSHALL")

    def reset_counters(self) -> None:
        self.command("DEL", COUNTER, LATENCIES)

    def info(self, section: str) -> dict:
        return self.command("INFO", section)


class Phase:
    """`with phase:` around exactly the timed part of an enqueue; INFO is read outside the clock."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.elapsed = 0.0
        self.cost: Cost | None = None

    def __enter__(self) -> Phase:
        self.before = self.probe.snapshot()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.elapsed = time.perf_counter() - self.start
        self.cost = Cost.between(self.before, self.probe.snapshot())


class Worker:
    """A library's worker CLI as a subprocess in its own session (process group); log kept."""

    live: set[Worker] = set()

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started = time.perf_counter()
        Worker.live.add(self)

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise ScenarioError(f"worker exited {self.proc.returncode}", f"log {self.log}")

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the CLI (it stops its own pool), then SIGKILL to the whole group."""
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        Worker.live.discard(self)

    @classmethod
    def stop_all(cls) -> None:
        for worker in list(cls.live):
            worker.stop(grace=2.0)


def wait_until(what: str, predicate: Callable[[], bool], timeout: float, worker: Worker | None = None) -> float:
    """perf_counter() when predicate() first held; ScenarioError on timeout or a dead worker."""
    deadline = time.perf_counter() + timeout
    while True:
        if predicate():
            return time.perf_counter()
        if worker:
            worker.check()
        if time.perf_counter() > deadline:
            log = f"; log {worker.log}" if worker else ""
            raise ScenarioError("timeout", f"{what} not reached in {timeout:.0f} s{log}")
        time.sleep(POLL)


@dataclass(frozen=True)
class Drain:
    rate: float  # tasks/s from the first completed task to the last
    cost: Cost
    timed: int  # tasks finished inside the timed window (the cost is divided by it)


def drain(probe: Probe, worker: Worker, n: int, timeout: float) -> Drain:
    """n tasks already queued, the worker just spawned: the clock starts at the first completion."""
    t0 = wait_until("the first completed task", lambda: probe.done() >= 1, timeout, worker)
    done0 = probe.done()
    before = probe.snapshot()
    t1 = wait_until(f"{n} completed tasks", lambda: probe.done() >= n, timeout, worker)
    cost = Cost.between(before, probe.snapshot())
    timed = max(n - done0, 1)
    return Drain(timed / (t1 - t0), cost, timed)


def started(probe: Probe, worker: Worker, timeout: float) -> float:
    """Seconds from spawning the worker (one task queued before) until that task completed."""
    return wait_until("the start-up task", lambda: probe.done() >= 1, timeout, worker) - worker.started


@dataclass(frozen=True)
class Noisy:
    light_max_ms: float
    light_median_ms: float
    total_s: float


def noisy(probe: Probe, worker: Worker, heavy_n: int, enqueue: Callable[[], None], timeout: float) -> Noisy:
    """The worker is running and idle; heavy tasks are enqueued, then the light ones (`enqueue`)."""
    light_n = LIGHT_TENANTS * LIGHT_PER_TENANT
    probe.reset_counters()
    start = time.perf_counter()
    enqueue()
    end = wait_until(
        f"{heavy_n} heavy and {light_n} light tasks",
        lambda: probe.done() >= heavy_n and probe.light_done() >= light_n,
        timeout,
        worker,
    )
    latencies = [s * 1000 for s in probe.light_latencies()]
    return Noisy(max(latencies), statistics.median(latencies), end - start)
