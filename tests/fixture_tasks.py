"""Tasks for worker tests. Each execution is written to an external ledger in
Redis (keys under FQ_LEDGER, outside the queue's prefix), so tests can count
executions and overlaps independently of the queue's own records."""

from __future__ import annotations

import os
import time

import redis

from queueapp.tasks_api import task

_client = None


def ledger() -> tuple[redis.Redis, str]:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    return _client, os.environ.get("FQ_LEDGER", "ledger")


@task(max_retries=0)
def record(tag: str, ms: int = 0):
    """Runs ms milliseconds; counts its executions and any overlap with itself."""
    client, key = ledger()
    if not client.sadd(f"{key}:running", tag):
        client.rpush(f"{key}:overlaps", tag)
    client.hincrby(f"{key}:runs", tag, 1)
    client.rpush(f"{key}:order", tag)
    try:
        time.sleep(ms / 1000)
    finally:
        client.srem(f"{key}:running", tag)
    client.hincrby(f"{key}:done", tag, 1)
    return tag


@task(max_retries=2)
def flaky(message: str = "boom"):
    client, key = ledger()
    client.hincrby(f"{key}:runs", "flaky", 1)
    raise ValueError(message)


@task(max_retries=1, timeout=0.3)
def slow(ms: int = 2000):
    client, key = ledger()
    client.hincrby(f"{key}:runs", "slow", 1)
    time.sleep(ms / 1000)
    return "finished"


@task(takes_context=True)
def whoami(context, tag: str):
    client, key = ledger()
    client.rpush(f"{key}:whoami", f"{tag}:{context.task_result.id}:{context.attempt}")
    return context.task_result.id


@task(max_retries=5)
def poison():
    """Kills the worker process running it, every time (a poison pill)."""
    import signal

    client, key = ledger()
    client.hincrby(f"{key}:runs", "poison", 1)
    os.kill(os.getpid(), signal.SIGKILL)


@task(max_retries=3)
def returns_object():
    """Returns something that is not JSON: dead-lettered at once (retrying cannot help)."""
    return object()
