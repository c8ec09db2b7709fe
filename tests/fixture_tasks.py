"""Tasks for worker tests. Each execution is written to an external ledger in
Redis (keys under FQ_LEDGER, outside the queue's prefix), so tests can count
executions and overlaps independently of the queue's own records. The ledger
lives on REDIS_URL unless FQ_LEDGER_URL names another server (fault tests that
kill or wipe the queue's Redis keep their ledger elsewhere)."""

from __future__ import annotations

import gc
import json
import os
import time
import uuid

import redis

from queueapp.engine.connection import RedisOptions, connect
from queueapp.tasks_api import task

_client = None


def ledger() -> tuple[redis.Redis, str]:
    global _client
    if _client is None:
        url = os.environ.get("FQ_LEDGER_URL") or os.environ["REDIS_URL"]
        _client = connect(RedisOptions(url=url))  # a RedisCluster when the URL names a cluster node
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


def _execution(tag: str) -> tuple[str, int]:
    """Write one execution of `tag` to the ledger: its id, this process's pid and the wall
    clock; returns (execution id, how many executions of `tag` started so far)."""
    client, key = ledger()
    exec_id = uuid.uuid4().hex[:12]
    pipe = client.pipeline(transaction=False)
    pipe.rpush(f"{key}:execs", json.dumps({"tag": tag, "exec": exec_id, "pid": os.getpid(), "t": time.time()}))
    pipe.hincrby(f"{key}:runs", tag, 1)
    return exec_id, pipe.execute()[1]


@task
def job(tag: str, ms: int = 0, first_ms: int | None = None, pad: str = ""):
    """The fault tests' unit of work: records each execution in the ledger, sleeps `ms`
    (`first_ms` on its first execution, when given) and returns its execution id, so a
    test can tell which execution's result was committed. `pad` only makes the payload big."""
    exec_id, n = _execution(tag)
    time.sleep((first_ms if first_ms is not None and n == 1 else ms) / 1000)
    client, key = ledger()
    client.rpush(f"{key}:finished", json.dumps({"tag": tag, "exec": exec_id, "pid": os.getpid(), "t": time.time()}))
    return {"tag": tag, "exec": exec_id, "pid": os.getpid()}


@task
def fails_until_fixed(tag: str):
    """Raises on every execution until the ledger key <ledger>:fixed:<tag> exists (the bug
    is "fixed"); then succeeds. Each execution is in the ledger with its time."""
    exec_id, n = _execution(tag)
    client, key = ledger()
    if not client.exists(f"{key}:fixed:{tag}"):
        raise ValueError(f"{tag} failed on execution {n}")
    return {"tag": tag, "exec": exec_id, "pid": os.getpid()}


@task
def stalls_heartbeat(tag: str, first_ms: int, stall_ms: int, ms: int = 0):
    """On its first execution, stalls this worker's heartbeat thread for `stall_ms` (its
    next heartbeat call blocks; the task threads and the reaper go on), then works
    `first_ms` like `job`. Later executions just work `ms`. A stand-in for a heartbeat thread that is
    starved or stuck while the task itself is healthy: a process-level signal cannot stop
    one thread."""
    exec_id, n = _execution(tag)
    if n == 1:
        from queueapp.engine.worker import Worker

        until = time.monotonic() + stall_ms / 1000
        workers = [obj for obj in gc.get_objects() if isinstance(obj, Worker)]
        for worker in workers:
            original = worker.queue.heartbeat

            def stalled(*args, _original=original, _queue=worker.queue, **kwargs):
                time.sleep(max(0.0, until - time.monotonic()))
                del _queue.heartbeat  # back to the class's method
                return _original(*args, **kwargs)

            worker.queue.heartbeat = stalled
        client, key = ledger()
        client.rpush(f"{key}:stalled", json.dumps({"tag": tag, "pid": os.getpid(), "workers": len(workers)}))
    time.sleep((first_ms if n == 1 else ms) / 1000)
    client, key = ledger()
    client.rpush(f"{key}:finished", json.dumps({"tag": tag, "exec": exec_id, "pid": os.getpid(), "t": time.time()}))
    return {"tag": tag, "exec": exec_id, "pid": os.getpid()}
