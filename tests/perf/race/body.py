"""The task bodies every library runs: exactly one Redis command each, on RACE_REDIS_URL,
through one client per process, so the libraries differ only in their own work.
Plain redis-py and the standard library: the arq side imports the key names from its venv."""

from __future__ import annotations

import os
import threading
import time

COUNTER = "race:done"  # INCR per finished task; the harness polls it for every library alike
LATENCIES = "race:light-latency"  # noisy neighbour: seconds from enqueue to finish, one RPUSH per light task
HEAVY_SLEEP = 0.002
URL_ENV = "RACE_REDIS_URL"

_client = None
_lock = threading.Lock()


def client():
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                import redis

                _client = redis.Redis.from_url(os.environ[URL_ENV])
    return _client


def count() -> None:
    client().incr(COUNTER)


def heavy() -> None:
    time.sleep(HEAVY_SLEEP)
    client().incr(COUNTER)


def light(enqueued_at: float) -> None:
    client().rpush(LATENCIES, time.time() - enqueued_at)
