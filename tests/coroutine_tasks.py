"""Coroutine (`async def`) tasks for worker tests. Like fixture_tasks, each run is
written to the ledger in Redis, here through redis.asyncio: a coroutine task
never blocks the worker's event loop. One client per event loop (asyncio
connections belong to their loop)."""

from __future__ import annotations

import asyncio
import os
import threading

import redis.asyncio as aredis

from queueapp.tasks_api import task
from queueapp.xcom import axcom_pull, axcom_push, xcom_task

_clients: dict[int, aredis.Redis] = {}


def ledger() -> tuple[aredis.Redis, str]:
    loop = id(asyncio.get_running_loop())
    if loop not in _clients:
        url = os.environ.get("FQ_LEDGER_URL") or os.environ["REDIS_URL"]
        pool = aredis.BlockingConnectionPool.from_url(url, decode_responses=True, max_connections=300)
        _clients[loop] = aredis.Redis(connection_pool=pool)
    return _clients[loop], os.environ.get("FQ_LEDGER", "ledger")


@task(max_retries=0)
async def nap(tag: str, ms: int = 50):
    """Sleeps ms milliseconds on the loop; counts runs, finishes and the most at once."""
    client, key = ledger()
    await client.hincrby(f"{key}:runs", tag, 1)
    now = await client.incr(f"{key}:inflight")
    await client.eval(
        "if tonumber(redis.call('GET', KEYS[1]) or 0) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end",
        1,
        f"{key}:peak",
        now,
    )
    try:
        await asyncio.sleep(ms / 1000)
    finally:
        await client.decr(f"{key}:inflight")
    await client.hincrby(f"{key}:done", tag, 1)
    await client.rpush(f"{key}:threads", threading.current_thread().name)
    return tag


@task(max_retries=1, timeout=0.3)
async def overrun(ms: int = 5000):
    """Runs past its 0.3 s timeout: the worker cancels it, and its finally still runs."""
    client, key = ledger()
    await client.hincrby(f"{key}:runs", "overrun", 1)
    try:
        await asyncio.sleep(ms / 1000)
    finally:
        await client.hincrby(f"{key}:finally", "overrun", 1)
    return "finished"


@task(max_retries=0)
@xcom_task("greeting")
async def greet(name: str):
    """An XCom round trip on the async client, and the return value stored by @xcom_task."""
    await axcom_push("name", name)
    return f"hello {await axcom_pull('name')}"


@task(max_retries=0)
async def pause(ms: int = 50):
    """Nothing but `await asyncio.sleep`: issue 13's benchmark task (tests/perf/bench_async.py)."""
    await asyncio.sleep(ms / 1000)
