"""The one place that reads django.conf.settings for the engine: builds the
EngineConfig and Redis options, and caches one FairQueue per process."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from .engine import EngineConfig, FairQueue, RedisOptions, connect


def engine_config() -> EngineConfig:
    values = {k: v for k, v in getattr(settings, "FAIRQUEUE", {}).items() if k.upper() != "REDIS"}
    return EngineConfig.from_mapping(values)


def redis_options() -> RedisOptions:
    extra = getattr(settings, "FAIRQUEUE", {}).get("REDIS", {})
    return RedisOptions.from_mapping({**extra, "url": settings.REDIS_URL})


@cache
def get_queue() -> FairQueue:
    return FairQueue(connect(redis_options()), engine_config())
