"""Worker start-up, as an enqueue waiting for a worker sees it:
`python -m tests.perf.bench_enqueue_startup [--runs 5]`. Prints a table; not a CI gate.

One no-op task is queued, then `manage.py runworker` is spawned; the clock runs from the
spawn until the task's state is succeeded (polled every 5 ms). The steady state: a migrated
SQLite database (made once) and a Redis that is already synced. A second row starts the
worker on an unsynced Redis (it rebuilds the configuration from the database first), and
a third is `manage.py check`, the system checks a deploy runs on its own.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from queueapp.engine import State, Task
from tests.perf.harness import bench_redis, fresh_queue, stop_process
from tests.processes import ROOT, start_worker, worker_env

_runs = iter(range(1_000_000))


def migrated_env(url: str, var_dir: str) -> dict[str, str]:
    env = worker_env(url, "{bench:startup}", FAIRQUEUE_VAR_DIR=var_dir, LOG_LEVEL="WARNING")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    return env


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def first_task_seconds(url: str, env: dict[str, str], synced: bool) -> tuple[float, float]:
    k = next(_runs)
    queue = fresh_queue(url, f"startup{k}")
    if synced:
        queue.mark_synced()
    task_id = queue.push(Task("queueapp.demo.noop", user="u1")).id
    run_env = {**env, "FAIRQUEUE_PREFIX": queue.config.prefix}
    start = time.perf_counter()
    proc = start_worker(run_env, "--worker-id", f"startup-{k}")
    try:
        while (task := queue.get_task(task_id)) is None or task.state != State.SUCCEEDED:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode} before running the task")
            if time.perf_counter() - start > 60:
                raise RuntimeError("the task did not succeed within 60 s")
            time.sleep(0.005)
        return time.perf_counter() - start, cpu_seconds(proc.pid)
    finally:
        stop_process(proc)


def check_seconds(env: dict[str, str]) -> tuple[float, float]:
    start, before = time.perf_counter(), os.times()
    subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, check=True, capture_output=True)
    wall, after = time.perf_counter() - start, os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fq-bench-startup-") as var_dir, bench_redis() as url:
        env = migrated_env(url, var_dir)
        table = [
            ("runworker: spawn -> first task succeeded", lambda: first_task_seconds(url, env, synced=True)),
            ("  the same, Redis not synced yet (syncs from the DB)", lambda: first_task_seconds(url, env, False)),
            ("manage.py check", lambda: check_seconds(env)),
        ]
        samples: list[list[tuple[float, float]]] = [[] for _ in table]
        for _ in range(args.runs):  # round-robin, so a slow spell of the machine hits every row alike
            for (_, measure), got in zip(table, samples, strict=True):
                got.append(measure())
    print(f"\nStart-up, median of {args.runs} runs (min-max), seconds; Python {sys.version.split()[0]}")
    print(f"{'measure':<56} {'wall':>6} {'(min-max)':>13} {'CPU':>6} {'(min-max)':>13}")
    print("-" * 98)
    for (name, _), got in zip(table, samples, strict=True):
        wall, cpu = sorted(w for w, _ in got), sorted(c for _, c in got)
        print(
            f"{name:<56} {statistics.median(wall):>6.3f} {f'{wall[0]:.3f}-{wall[-1]:.3f}':>13} "
            f"{statistics.median(cpu):>6.2f} {f'{cpu[0]:.2f}-{cpu[-1]:.2f}':>13}"
        )
    print("CPU: the process's user + system time when the task was seen done (10 ms ticks)")


if __name__ == "__main__":
    main()
