"""Shared benchmark plumbing: a private redis-server, repeated timing, a table."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable
from contextlib import contextmanager

from queueapp.engine import EngineConfig, FairQueue, RedisOptions, connect
from tests.redis_server import RedisServer


@contextmanager
def bench_redis():
    """FAIRQUEUE_BENCH_REDIS_URL, else a private server (no persistence, like the tests)."""
    url = os.environ.get("FAIRQUEUE_BENCH_REDIS_URL")
    if url:
        yield url
        return
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.cleanup()


def fresh_queue(url: str, name: str, **cfg) -> FairQueue:
    client = connect(RedisOptions(url=url))
    client.flushdb()
    return FairQueue(client, EngineConfig(prefix="{bench:" + name + "}", **cfg))


def rate(n: int, fn: Callable[[], object]) -> float:
    """Operations per second of fn, which performs n operations."""
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def median_of(runs: int, measure: Callable[[], float]) -> tuple[float, float, float]:
    values = [measure() for _ in range(runs)]
    return statistics.median(values), min(values), max(values)


def print_table(title: str, rows: list[tuple[str, float, float, float, str]]) -> None:
    print(f"\n{title}")
    print(f"{'measure':<52} {'median':>10} {'min':>10} {'max':>10}  unit")
    print("-" * 92)
    for name, med, lo, hi, unit in rows:
        print(f"{name:<52} {med:>10,.0f} {lo:>10,.0f} {hi:>10,.0f}  {unit}")


def stop_process(proc: subprocess.Popen, grace: float = 10.0) -> int:
    """SIGTERM, then SIGKILL if it is still running after `grace` seconds; returns its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()
