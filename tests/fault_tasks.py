"""Tasks for the fault tests (tests/faults/). Each execution is written to an
external ledger in Redis under FQ_LEDGER, reached through FQ_LEDGER_URL when
set: a worker whose queue traffic goes through the fault proxy still writes
its ledger directly, so the ledger tells what really ran, and where."""

from __future__ import annotations

import json
import os
import time

import redis

from queueapp.tasks_api import task

_client = None


def ledger() -> tuple[redis.Redis, str]:
    global _client
    if _client is None:
        url = os.environ.get("FQ_LEDGER_URL") or os.environ["REDIS_URL"]
        _client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10)
    return _client, os.environ.get("FQ_LEDGER", "ledger")


@task(max_retries=0)
def step(tag: str, ms: int = 0):
    """Runs `ms` milliseconds. Ledger: runs/done per tag, overlaps (two executions of one
    tag at once), and one JSON line [tag, pid, started_at, finished_at] per execution."""
    client, key = ledger()
    started = time.time()
    if not client.sadd(f"{key}:running", tag):
        client.rpush(f"{key}:overlaps", tag)
    client.hincrby(f"{key}:runs", tag, 1)
    client.rpush(f"{key}:starts", json.dumps([tag, os.getpid(), started]))
    try:
        time.sleep(ms / 1000)
    finally:
        client.srem(f"{key}:running", tag)
    client.hincrby(f"{key}:done", tag, 1)
    client.rpush(f"{key}:execs", json.dumps([tag, os.getpid(), started, time.time()]))
    return tag
