"""Worker benchmarks through real `manage.py runworker` processes:
`python -m tests.perf.bench_worker --runs 3 --n 20000`. Prints a table; not a CI gate.

1. End-to-end no-op tasks/s: the worker is started first and waited for until
   its heartbeat is listed (start-up is not timed), N noop tasks of 10 tenants
   are pushed with one push_many, and the clock runs from push completion until
   stats()["succeeded"] == N (polled every 20 ms). The worker already pops while
   the pipeline is being applied, so the rate counts only the tasks finished in
   the timed window: (N - succeeded at push completion) / elapsed. Per-task INFO
   logging (to a file) and LOG_LEVEL=WARNING are both measured.
2. Noisy neighbour: tenant A has 10,000 queued tasks, B..F 10 each, pushed after
   A's and before one --concurrency 1 worker starts. The ledger of
   tests.fixture_tasks.record gives the order served; every light-tenant task
   must be served within the first 60.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from queueapp.engine import FairQueue, Task
from tests.perf.harness import bench_redis, fresh_queue, median_of, print_table, rate, stop_process
from tests.processes import start_worker, wait_for, worker_env

LIGHT = "BCDEF"
HEAVY_N, LIGHT_N, PROMISE = 10_000, 10, 60
LOG_DIR = Path(tempfile.mkdtemp(prefix="fq-bench-worker-"))
_seq = iter(range(1_000_000))


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextmanager
def worker(env: dict[str, str], worker_id: str, concurrency: int) -> Iterator:
    """A runworker subprocess, stopped (SIGTERM, SIGKILL after 10 s) however the block ends."""
    log = LOG_DIR / f"{worker_id}.log"
    proc = start_worker(env, "--worker-id", worker_id, "--concurrency", str(concurrency), log=log)
    proc.log = log
    try:
        yield proc
    finally:
        code = stop_process(proc, grace=10.0)
        if code != 0:
            print(f"warning: worker {worker_id} exited with {code}; log {log}:\n{log_tail(log)}")


def alive(proc, check):
    """wait_for predicate that fails at once, with the log, if the worker died."""

    def predicate():
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode}:\n{log_tail(proc.log)}")
        return check()

    return predicate


def ping(url: str, n: int) -> float:
    q = fresh_queue(url, "ping")
    return rate(n, lambda: [q.redis.ping() for _ in range(n)])


def noop_tasks(n: int) -> list[Task]:
    return [Task("queueapp.demo.noop", user=f"u{i % 10}") for i in range(n)]


def succeeded(q: FairQueue) -> int:
    return q.stats().get("succeeded", 0)


def end_to_end(url: str, n: int, concurrency: int, level: str, early: list[int]) -> float:
    """No-op tasks/s through one idle runworker; appends the tasks done before the clock to `early`."""
    k = next(_seq)
    q = fresh_queue(url, f"e2e{k}")
    worker_id = f"bench-c{concurrency}-{level.lower()}-{k}"
    env = worker_env(url, q.config.prefix, LOG_LEVEL=level)
    batch = noop_tasks(n)
    with worker(env, worker_id, concurrency) as proc:
        wait_for(
            alive(proc, lambda: any(w.worker == worker_id for w in q.workers())),
            timeout=60,
            interval=0.02,
            what=f"{worker_id}'s heartbeat",
        )
        q.push_many(batch)
        start = time.perf_counter()
        done_at_start = succeeded(q)
        wait_for(
            alive(proc, lambda: succeeded(q) >= n),
            timeout=max(120.0, n / 50),
            interval=0.02,
            what=f"{n} succeeded tasks",
        )
        elapsed = time.perf_counter() - start
    early.append(done_at_start)
    return (n - done_at_start) / elapsed


def record_task(tenant: str) -> Task:
    return Task("tests.fixture_tasks.record", args=[tenant, 0], user=tenant)


def noisy_neighbour(url: str, outcomes: list[dict[str, list[int]]]) -> float:
    """Max 1-based serve position of any light-tenant task; appends {tenant: positions} to `outcomes`."""
    k = next(_seq)
    q = fresh_queue(url, f"noisy{k}")
    ledger = f"bench-ledger-{k}-{uuid.uuid4().hex[:8]}"
    total = HEAVY_N + LIGHT_N * len(LIGHT)
    q.push_many([record_task("A") for _ in range(HEAVY_N)])
    q.push_many([record_task(t) for t in LIGHT for _ in range(LIGHT_N)])
    order_key = f"{ledger}:order"
    with worker(worker_env(url, q.config.prefix, ledger=ledger), f"bench-noisy-{k}", 1) as proc:
        wait_for(
            alive(proc, lambda: q.redis.llen(order_key) >= total),
            timeout=max(300.0, total / 20),
            interval=0.1,
            what=f"{total} ledger entries",
        )
    order = q.redis.lrange(order_key, 0, -1)
    positions = {t: [i for i, tag in enumerate(order, 1) if tag == t] for t in LIGHT}
    for t, served in positions.items():
        if len(served) != LIGHT_N:
            raise RuntimeError(f"tenant {t}: {len(served)} executions recorded, expected {LIGHT_N}")
    outcomes.append(positions)
    return max(max(p) for p in positions.values())


def measure(url: str, n: int, runs: int, early: dict[str, list[int]], outcomes: list) -> list[tuple]:
    rows = [("PING round trips/s (the yardstick)", *median_of(runs, lambda: ping(url, n)), "ops/s")]
    for concurrency in (1, 8):
        for level in ("INFO", "WARNING"):
            name = f"runworker --concurrency {concurrency}, LOG_LEVEL={level}"
            got = early.setdefault(name, [])
            result = median_of(runs, lambda c=concurrency, lv=level, g=got: end_to_end(url, n, c, lv, g))
            rows.append((f"{name} (noop)", *result, "tasks/s"))
    worst = median_of(runs, lambda: noisy_neighbour(url, outcomes))
    rows.append((f"noisy neighbour: max light-task position of {HEAVY_N + LIGHT_N * len(LIGHT):,}", *worst, "position"))
    return rows


def report(n: int, runs: int, rows: list[tuple], early: dict[str, list[int]], outcomes: list) -> None:
    print_table(f"FairQueue worker processes, {n:,} no-op tasks per run, median of {runs} runs", rows)
    print("\nno-op tasks already succeeded when push_many returned (not timed), per run:")
    for name, values in early.items():
        print(f"  {name:<44} {', '.join(f'{v:,}' for v in values)}")
    print(
        f"\nnoisy neighbour: A has {HEAVY_N:,} tasks queued first, {LIGHT} {LIGHT_N} each; one worker,"
        " --concurrency 1; 1-based positions served:"
    )
    for run, positions in enumerate(outcomes, 1):
        for tenant, served in positions.items():
            print(f"  run {run} tenant {tenant}: {served}")
    worsts = [max(max(p) for p in pos.values()) for pos in outcomes]
    verdict = "PASS" if max(worsts) <= PROMISE else "FAIL"
    print(
        f"\n{verdict}: every light-tenant task served within the first {PROMISE} "
        f"(worst position per run: {', '.join(map(str, worsts))})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--n", type=int, default=20_000, help="no-op tasks per end-to-end run")
    args = parser.parse_args()
    early: dict[str, list[int]] = {}
    outcomes: list[dict[str, list[int]]] = []
    try:
        with bench_redis() as url:
            rows = measure(url, args.n, args.runs, early, outcomes)
    except BaseException:
        print(f"worker logs kept in {LOG_DIR}")
        raise
    shutil.rmtree(LOG_DIR, ignore_errors=True)
    report(args.n, args.runs, rows, early, outcomes)


if __name__ == "__main__":
    main()
