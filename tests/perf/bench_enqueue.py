"""Enqueue-path benchmark through Django's Tasks API, one process:
`python -m tests.perf.bench_enqueue [--runs 5] [--n 2000]`. Prints a table; not a CI gate.

Each row is the median of --runs runs (min-max beside it): wall µs per call, calls/s, and
the CPU µs this process spent per call (time.process_time: Python and its syscalls, not
the wait for Redis), which is what the Python side costs and far steadier than wall time
on a shared machine. The engine's own push and a PING loop are the reference: one EVALSHA
round trip per task is the floor of a single enqueue, PING the ceiling of any one-call path.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from tests.perf.harness import bench_redis

PREFIX = "{bench:enqueue}"


def setup_django(url: str) -> None:
    """tests.settings pointed at the private server (settings read REDIS_URL / FAIRQUEUE_PREFIX)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["REDIS_URL"] = url
    os.environ["FAIRQUEUE_PREFIX"] = PREFIX
    import django

    django.setup()


def per_call_us(n: int, fn: Callable[[int], object]) -> tuple[float, float]:
    """Wall and CPU microseconds per call of fn(i), over n calls."""
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - start) / n * 1e6, (time.process_time() - cpu) / n * 1e6


def measures(n: int) -> list[tuple[str, int, Callable[[], tuple[float, float]]]]:
    """(name, calls per run, run -> (wall, CPU) µs per call)."""
    from django.tasks import task_backends

    from queueapp import conf
    from queueapp.demo import echo
    from queueapp.engine import Task

    queue = conf.get_queue()
    backend = task_backends["default"]

    def fresh() -> None:
        queue.redis.flushdb()

    def enqueue_many(batch: int = 1000, rounds: int = 3) -> tuple[float, float]:
        calls = [((i,), {}) for i in range(batch)]
        fresh()
        wall, cpu = per_call_us(rounds, lambda _: backend.enqueue_many(echo, calls))
        return wall / batch, cpu / batch

    def run(fn: Callable[[int], object], calls: int) -> Callable[[], tuple[float, float]]:
        def measure() -> tuple[float, float]:
            fresh()
            return per_call_us(calls, fn)

        return measure

    echo.enqueue(0)  # warm: connection, script load
    return [
        ("PING round trip (the ceiling)", n * 2, run(lambda i: queue.redis.ping(), n * 2)),
        ("FairQueue.push(Task(...)) (engine alone)", n, run(lambda i: queue.push(Task("queueapp.demo.echo", [i])), n)),
        ('task.using(user="acme") alone', n * 10, run(lambda i: echo.using(user="acme"), n * 10)),
        ("task.enqueue(i)", n, run(echo.enqueue, n)),
        ('task.using(user="acme").enqueue(i)', n, run(lambda i: echo.using(user="acme").enqueue(i), n)),
        ("backend.enqueue_many(task, 1,000 calls), per task", 3000, enqueue_many),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--n", type=int, default=2000, help="enqueues per run (using alone: 10x)")
    args = parser.parse_args()
    with bench_redis() as url:
        setup_django(url)
        table = measures(args.n)
        samples: list[list[tuple[float, float]]] = [[] for _ in table]
        for _ in range(args.runs):  # round-robin, so a slow spell of the machine hits every row alike
            for (_, _, measure), got in zip(table, samples, strict=True):
                got.append(measure())
    print(f"\nDjango enqueue path, one process, median of {args.runs} runs (min-max)")
    print(
        f"{'measure':<50} {'calls/run':>9} {'wall µs':>8} {'(min-max)':>13} {'calls/s':>8} "
        f"{'(min-max)':>15} {'CPU µs':>7} {'(min-max)':>13}"
    )
    print("-" * 130)
    for (name, calls, _), got in zip(table, samples, strict=True):
        wall = sorted(w for w, _ in got)
        cpu = sorted(c for _, c in got)
        med, med_cpu = statistics.median(wall), statistics.median(cpu)
        print(
            f"{name:<50} {calls:>9,} {med:>8.1f} {f'{wall[0]:.1f}-{wall[-1]:.1f}':>13} {1e6 / med:>8,.0f} "
            f"{f'{1e6 / wall[-1]:,.0f}-{1e6 / wall[0]:,.0f}':>15} {med_cpu:>7.1f} {f'{cpu[0]:.1f}-{cpu[-1]:.1f}':>13}"
        )


if __name__ == "__main__":
    main()
