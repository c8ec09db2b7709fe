"""The one place that reads django.conf.settings for the engine: builds the
EngineConfig and Redis options, caches one queue client per process (and one
async client per event loop), and checks the setup for `manage.py check`."""

from __future__ import annotations

import asyncio
import sys
import weakref
from functools import cache
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core import checks

from .engine import AsyncFairQueue, EngineConfig, FairQueue, RedisOptions, connect, connect_async
from .engine.connection import is_cluster
from .engine.errors import LuaIncludeError, QueueUnavailable
from .engine.scripts import default_scripts
from .engine.shards import ShardedQueue, shard_configs, threaded

DEFAULT_TASK_MODULES = ("queueapp.demo",)
DEFAULT_ASYNC_CONCURRENCY = 100


def fairqueue_settings() -> dict:
    return getattr(settings, "FAIRQUEUE", {})


def engine_config() -> EngineConfig:
    ignored = {"REDIS", "TASK_MODULES", "ASYNC_CONCURRENCY", "SHARDS"}  # not engine settings
    return EngineConfig.from_mapping({k: v for k, v in fairqueue_settings().items() if k.upper() not in ignored})


def redis_options(**overrides) -> RedisOptions:
    extra = fairqueue_settings().get("REDIS", {})
    return RedisOptions.from_mapping({**extra, "url": settings.REDIS_URL, **overrides})


def task_modules() -> tuple[str, ...]:
    """Modules imported by workers so their tasks register (besides every app's tasks.py)."""
    return tuple(fairqueue_settings().get("TASK_MODULES", DEFAULT_TASK_MODULES))


def async_concurrency() -> int:
    """Coroutine tasks a worker runs at once on its event loop (runworker --async-concurrency)."""
    value = fairqueue_settings().get("ASYNC_CONCURRENCY", DEFAULT_ASYNC_CONCURRENCY)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000:
        raise ValueError(f"FAIRQUEUE['ASYNC_CONCURRENCY'] must be an integer 0..1000, got {value!r}")
    return value


def shards() -> int:
    """FAIRQUEUE["SHARDS"]: fair queues (hash tags {fq:0}..{fq:N-1}) the tenants spread over."""
    value = fairqueue_settings().get("SHARDS", 1)
    shard_configs(EngineConfig(), value)  # the one check of the value (ConfigError)
    return value


@cache
def get_queue() -> FairQueue:
    """One client per process: a FairQueue, or with SHARDS > 1 a ShardedQueue (the same surface)."""
    return ShardedQueue.over(connect(redis_options()), engine_config(), shards())  # type: ignore[return-value]


_async_queues: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def get_async_queue() -> AsyncFairQueue:
    """One AsyncFairQueue per event loop (asyncio connections belong to their loop)."""
    loop = asyncio.get_running_loop()
    queue = _async_queues.get(loop)
    if queue is None:
        if shards() > 1 or is_cluster(get_queue().redis):  # the sync client's calls, in a thread
            queue = _async_queues[loop] = threaded(get_queue())
        else:
            queue = _async_queues[loop] = AsyncFairQueue(connect_async(redis_options()), engine_config())
    return queue


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def running_check_command() -> bool:
    """This process is `manage.py check` (or `django-admin check`)."""
    return len(sys.argv) > 1 and sys.argv[1] == "check"


def check_engine(durability: bool = True):
    """System-check errors: bad FAIRQUEUE settings, Lua scripts missing, Redis unreachable;
    with `durability`, warnings about Redis settings that lose tasks (W001, W002)."""
    try:
        engine_config()
    except (TypeError, ValueError) as exc:
        yield checks.Error(f"FAIRQUEUE setting is invalid: {exc}", id="fairqueue.E001")
    try:
        default_scripts()
    except LuaIncludeError as exc:
        yield checks.Error(
            f"FairQueue Lua scripts cannot be loaded: {exc}",
            hint="Set FAIRQUEUE_LUA_DIR to the project's lua/ directory.",
            id="fairqueue.E002",
        )
    try:
        client = connect(redis_options(socket_connect_timeout=1.0, socket_timeout=2.0, retries=0))
        try:
            client.ping()
            for warning_id, message in durability_warnings(client) if durability else ():
                yield checks.Warning(message, hint="See docs/operations.md, Redis durability settings.", id=warning_id)
        finally:
            client.close()
    except (QueueUnavailable, ValueError) as exc:
        yield checks.Error(
            f"Redis at {safe_url(settings.REDIS_URL)} is not reachable: {exc}",
            hint="Start Redis or set REDIS_URL, e.g. redis://127.0.0.1:6379/0 (make run starts a private one).",
            id="fairqueue.E003",
        )


def durability_warnings(client) -> list[tuple[str, str]]:
    """What the Redis server's settings risk: evicted queue keys (lost tasks) or no persistence.
    Empty when the settings cannot be read (CONFIG denied by ACL, managed Redis)."""
    try:
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
        aof = client.config_get("appendonly").get("appendonly")
        rdb = client.config_get("save").get("save")
    except QueueUnavailable:
        return []
    warnings = []
    if policy and policy != "noeviction":
        warnings.append(
            (
                "fairqueue.W001",
                f"Redis maxmemory-policy is {policy!r}: under memory pressure Redis "
                "may evict queue keys (lost tasks); set it to noeviction",
            )
        )
    if aof == "no" and not rdb:
        warnings.append(
            (
                "fairqueue.W002",
                "Redis keeps nothing on disk (appendonly no, no save points): a Redis "
                "restart loses every queued task; use appendonly yes",
            )
        )
    return warnings
