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


class RedisCost:
    """What one measured step cost the Redis server: CPU (INFO cpu, user + sys, so the
    network syscalls count too), commands (INFO commandstats, the ones run inside
    scripts included) and round trips (packets redis-py sent: one per command or pipeline)."""

    def __init__(self, client) -> None:
        self.client = client

    def _snapshot(self) -> tuple[float, int]:
        cpu = self.client.info("cpu")
        stats = self.client.info("commandstats")
        commands = sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")
        return cpu["used_cpu_user"] + cpu["used_cpu_sys"], commands

    def measure(self, n: int, fn: Callable[[], object]) -> dict[str, float]:
        """{rate, cpu_us, commands, trips} per task of fn, which performs n tasks."""
        import redis.connection

        sent = [0]
        original = redis.connection.AbstractConnection.send_packed_command

        def counting(conn, command, check_health=True):
            sent[0] += 1
            return original(conn, command, check_health)

        cpu0, cmd0 = self._snapshot()
        redis.connection.AbstractConnection.send_packed_command = counting
        start = time.perf_counter()
        try:
            fn()
        finally:
            elapsed = time.perf_counter() - start
            redis.connection.AbstractConnection.send_packed_command = original
        cpu1, cmd1 = self._snapshot()
        return {
            "rate": n / elapsed,
            "cpu_us": (cpu1 - cpu0) / n * 1e6,
            "commands": (cmd1 - cmd0) / n,
            "trips": sent[0] / n,
        }


def print_cost_table(title: str, rows: list[tuple[str, list[dict[str, float]]]]) -> None:
    """Medians of RedisCost.measure results, one row per measure."""
    print(f"\n{title}")
    print(f"{'measure':<44} {'tasks/s':>9} {'Redis CPU us/task':>18} {'commands/task':>14} {'round trips/task':>17}")
    print("-" * 106)
    for name, results in rows:
        med = {k: statistics.median(r[k] for r in results) for k in results[0]}
        print(f"{name:<44} {med['rate']:>9,.0f} {med['cpu_us']:>18.1f} {med['commands']:>14.1f} {med['trips']:>17.3f}")
