"""FairQueue against Huey, Dramatiq, Celery, RQ and arq on one private redis-server:
`make race`, or `python -m tests.perf.race --runs 3 --tasks 3000 --only fairqueue,huey`.

Per run and library (runs interleave the libraries, so a slow minute of the machine hits all):
FLUSHALL, N single enqueues, then a concurrency-1 worker drains them; FLUSHALL, a batch
enqueue of N, a concurrency-8 worker drains them; then for concurrency 1 and 8: FLUSHALL,
one task queued, the worker spawned (start-up: spawn -> that task done), and on that running
worker the noisy neighbour (2,000 heavy tasks, then 5 tenants x 10 light ones).
Prints a table; writes docs/performance.md and docs/performance.png unless --no-write."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from tests.perf.harness import bench_redis
from tests.perf.race import adaptors, report, writeup
from tests.perf.race.body import URL_ENV
from tests.perf.race.measure import (
    HEAVY_N,
    LIGHT_PER_TENANT,
    LIGHT_TENANTS,
    Cost,
    Phase,
    Probe,
    ScenarioError,
    Worker,
    drain,
    noisy,
    started,
)
from tests.processes import ROOT

LAST = ROOT / "var" / "race" / "last.json"  # the raw per-run values of the last race that wrote the docs
STARTUP_TIMEOUT = 90.0
NOISY_TIMEOUT = 300.0


def drain_timeout(n: int) -> float:
    return 60.0 + n / 20  # 210 s for 3,000 tasks: a library below ~20 tasks/s shows "timeout"


class Race:
    """Runs the scenarios of one library and run, recording each value (or why there is none)."""

    def __init__(self, probe: Probe, ctx: adaptors.Context, n: int, heavy: int, results: report.Results) -> None:
        self.probe, self.ctx, self.n, self.heavy, self.results = probe, ctx, n, heavy, results
        self.failures: list[str] = []

    def attempt(self, lib: str, labels: list[str], step: Callable[[], None]) -> bool:
        """Run step; on failure record the short reason under every label it would have filled."""
        try:
            step()
            return True
        except ScenarioError as exc:
            reason, detail = exc.short, str(exc)
        except Exception as exc:  # a library's own error: reported, and the other libraries still race
            reason, detail = f"error: {type(exc).__name__}", traceback.format_exc()
        for label in labels:
            self.results.add(lib, label, reason)
        self.failures.append(f"{lib}: {', '.join(labels[:1])}...: {detail}")
        print(f"  ! {lib} {labels[0]}: {detail.strip().splitlines()[-1]}", flush=True)
        return False

    def fresh(self, adaptor: adaptors.Adaptor) -> None:
        self.probe.flushall()
        adaptor.after_flush()

    def spawn(self, adaptor: adaptors.Adaptor, run: int, scenario: str, concurrency: int) -> Worker:
        name = f"{adaptor.name}-r{run}-{scenario}-c{concurrency}"
        return Worker(name, adaptor.worker_argv(concurrency), adaptor.worker_env(concurrency), self.ctx.work)

    def record_phase(self, lib: str, label: str, rate: float, cost: Cost, tasks: int) -> None:
        self.results.add(lib, label, rate)
        for kind, value in report.cost_values(cost, tasks).items():
            self.results.add(lib, report.cost_label(kind, label), value)

    def enqueue(self, adaptor: adaptors.Adaptor, label: str, fn: Callable[[int, Phase], None]) -> bool:
        def step():
            self.fresh(adaptor)
            phase = Phase(self.probe)
            fn(self.n, phase)
            self.record_phase(adaptor.name, label, self.n / phase.elapsed, phase.cost, self.n)

        return self.attempt(adaptor.name, report.phase_labels(label), step)

    def drain(self, adaptor: adaptors.Adaptor, run: int, concurrency: int) -> None:
        label = f"drain, concurrency {concurrency}"

        def step():
            worker = self.spawn(adaptor, run, "drain", concurrency)
            try:
                got = drain(self.probe, worker, self.n, drain_timeout(self.n))
            finally:
                worker.stop()
            self.record_phase(adaptor.name, label, got.rate, got.cost, got.timed)

        self.attempt(adaptor.name, report.phase_labels(label), step)

    def startup_and_noisy(self, adaptor: adaptors.Adaptor, run: int, concurrency: int) -> None:
        lib, up = adaptor.name, f"worker start-up, concurrency {concurrency}"
        worker = None

        def start():
            nonlocal worker
            self.fresh(adaptor)
            adaptor.enqueue_one()
            worker = self.spawn(adaptor, run, "noisy", concurrency)
            self.results.add(lib, up, started(self.probe, worker, STARTUP_TIMEOUT))

        def neighbour():
            got = noisy(
                self.probe,
                worker,
                self.heavy,
                lambda: adaptor.enqueue_noisy(self.heavy, LIGHT_TENANTS, LIGHT_PER_TENANT),
                NOISY_TIMEOUT,
            )
            for label, value in zip(report.noisy_labels(concurrency), got.__dict__.values(), strict=True):
                self.results.add(lib, label, value)

        try:
            if self.attempt(lib, [up, *report.noisy_labels(concurrency)], start):
                self.attempt(lib, report.noisy_labels(concurrency), neighbour)
        finally:
            if worker:
                worker.stop()

    def library(self, adaptor: adaptors.Adaptor, run: int) -> None:
        if self.enqueue(adaptor, "enqueue, single", adaptor.enqueue_single):
            self.drain(adaptor, run, 1)
        else:
            self.skip(adaptor.name, "drain, concurrency 1")
        if self.enqueue(adaptor, "enqueue, batch", adaptor.enqueue_batch):
            self.drain(adaptor, run, 8)
        else:
            self.skip(adaptor.name, "drain, concurrency 8")
        for label, fn in adaptor.extra_enqueues().items():
            self.enqueue(adaptor, label, fn)
        for concurrency in (1, 8):
            self.startup_and_noisy(adaptor, run, concurrency)

    def skip(self, lib: str, label: str) -> None:
        for each in report.phase_labels(label):
            self.results.add(lib, each, "skipped (enqueue failed)")


def set_up(names: list[str], ctx: adaptors.Context, results: report.Results) -> list[adaptors.Adaptor]:
    """The adaptors that can race; the others are recorded as n/a (reason)."""
    ready = []
    for name in names:
        try:
            adaptor = adaptors.load(name)
            results.configs[name] = (adaptor.config, adaptor.batch_note)
            adaptor.setup(ctx)
            results.versions[name] = adaptor.version()
            ready.append(adaptor)
        except adaptors.Unavailable as exc:
            results.unavailable[name] = str(exc)
        except Exception as exc:
            results.unavailable[name] = f"{type(exc).__name__}: {exc}"
        if name in results.unavailable:
            print(f"  {name}: n/a ({results.unavailable[name]})", flush=True)
    return ready


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per library; medians with min-max (default 3)")
    parser.add_argument("--tasks", type=int, default=5000, help="tasks per enqueue and drain measure (default 5000)")
    parser.add_argument(
        "--only", default=",".join(adaptors.MODULES), help=f"comma-separated subset of {','.join(adaptors.MODULES)}"
    )
    parser.add_argument(
        "--heavy", type=int, default=HEAVY_N, help=f"noisy neighbour's heavy tasks (default {HEAVY_N:,})"
    )
    parser.add_argument("--no-write", action="store_true", help="print the table only (no docs/performance.*)")
    parser.add_argument(
        "--replay", type=Path, help=f"no race: print and write the docs from a saved {LAST.relative_to(ROOT)}"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the worker logs even when nothing failed")
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in args.only if name not in adaptors.MODULES]
    if unknown:
        parser.error(f"unknown libraries {unknown}; choose from {list(adaptors.MODULES)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.replay:
        results = report.Results.load(args.replay)
        for name in results.configs:  # the descriptions of today's code, not the saved run's
            adaptor = adaptors.load(name)
            results.configs[name] = (adaptor.config, adaptor.batch_note)
        print(report.text_table(results))
        if not args.no_write:
            print(writeup.write_docs(results))
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally blocks kill the workers
    work = Path(tempfile.mkdtemp(prefix="fq-race-"))
    results = report.Results(args.tasks, args.runs, args.heavy)
    began = time.perf_counter()
    failures: list[str] = []
    try:
        with bench_redis() as url:
            os.environ[URL_ENV] = url  # the task modules the adaptors import read it
            ctx = adaptors.Context(url, work)
            probe = Probe(url)
            results.machine = report.machine(probe)
            print(f"race: {args.tasks:,} tasks, {args.runs} run(s), Redis {url}, logs in {work}", flush=True)
            ready = set_up(args.only, ctx, results)
            race = Race(probe, ctx, args.tasks, args.heavy, results)
            for run in range(1, args.runs + 1):
                for adaptor in ready:
                    print(f"run {run}/{args.runs}: {adaptor.name}", flush=True)
                    race.library(adaptor, run)
            failures = race.failures
    except BaseException:
        print(f"race stopped: worker logs kept in {work}", flush=True)
        raise
    finally:
        Worker.stop_all()
    results.duration = time.perf_counter() - began
    print(report.text_table(results))
    if not args.no_write:
        results.save(LAST)
        print(writeup.write_docs(results))
    if failures or args.keep_logs:
        print(f"\nworker logs kept in {work}")
        for failure in failures:
            print(f"  {failure.strip().splitlines()[0]}")
    else:
        shutil.rmtree(work, ignore_errors=True)
