"""arq's side of the race, run by the race's arq venv (var/race-arq; arq needs redis<6, FairQueue
redis>=8.1): the tasks and WorkerSettings for `arq tests.perf.race.arq_side.WorkerSettings`,
and the enqueue loops, started as `python -m tests.perf.race.arq_side KIND N` and timed by the
harness from the "go" it writes to the "done" this prints (start-up and import are not timed).
Imports only arq and the standard library (and body's key names)."""

from __future__ import annotations

import asyncio
import os
import sys
import time

from arq import create_pool
from arq.connections import RedisSettings

from tests.perf.race.body import COUNTER, HEAVY_SLEEP, LATENCIES, URL_ENV


async def count(ctx):
    await ctx["redis"].incr(COUNTER)


async def heavy(ctx):
    await asyncio.sleep(HEAVY_SLEEP)
    await ctx["redis"].incr(COUNTER)


async def light(ctx, enqueued_at: float):
    await ctx["redis"].rpush(LATENCIES, time.time() - enqueued_at)


class WorkerSettings:
    """arq's defaults but max_jobs (the concurrency under test) and poll_delay (see arq_adaptor)."""

    functions = [count, heavy, light]
    redis_settings = RedisSettings.from_dsn(os.environ.get(URL_ENV, "redis://127.0.0.1:6379/0"))
    max_jobs = int(os.environ.get("RACE_CONCURRENCY", "10"))
    poll_delay = float(os.environ.get("RACE_ARQ_POLL_DELAY", "0.5"))


async def enqueue(kind: str, n: int, light_tenants: int, per_tenant: int) -> None:
    """arq has no batch API: `single` and `batch` are the same loop of enqueue_job."""
    pool = await create_pool(WorkerSettings.redis_settings)
    await pool.ping()
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    if kind in ("single", "batch"):
        for _ in range(n):
            await pool.enqueue_job("count")
    elif kind == "noisy":
        for _ in range(n):
            await pool.enqueue_job("heavy")
        for _ in range(light_tenants * per_tenant):
            await pool.enqueue_job("light", time.time())
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    print("done", flush=True)
    await pool.aclose()


if __name__ == "__main__":
    kind, n, *rest = sys.argv[1:]
    tenants, per = (int(rest[0]), int(rest[1])) if rest else (0, 0)
    asyncio.run(enqueue(kind, int(n), tenants, per))
