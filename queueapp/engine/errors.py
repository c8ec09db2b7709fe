"""Exceptions raised by the engine; one hierarchy so callers can catch them all."""

# Redis could not be reached or answered with an error (redis-py's RedisError): callers outside
# the engine catch this name and need not import redis themselves.
from redis.exceptions import RedisError as QueueUnavailable


class FairQueueError(Exception):
    """Base class of every engine error."""


class InvalidTask(FairQueueError, ValueError):
    """A task was refused at push: bad priority, id, tenant, non-JSON argument, too large."""


class TaskNotFound(FairQueueError, LookupError):
    """No record for this task id (never existed, or its result expired)."""


class StaleLease(FairQueueError):
    """The lease token no longer holds the task: it expired and was handed on."""


class InvalidState(FairQueueError):
    """The task is not in a state that allows the operation (e.g. cancel a running task)."""


class LuaIncludeError(FairQueueError):
    """A Lua script's `--- @include` lines are missing, duplicated or circular."""


class ConfigError(FairQueueError, ValueError):
    """A worker or tenant configuration is not valid."""


class UnknownTask(FairQueueError, LookupError):
    """The stored task path is not a registered task; it is dead-lettered, never imported."""


class TaskTimeout(FairQueueError, TimeoutError):
    """The task ran past its timeout; the worker failed it (reason 'timeout')."""


__all__ = [
    "ConfigError",
    "FairQueueError",
    "InvalidState",
    "InvalidTask",
    "LuaIncludeError",
    "QueueUnavailable",
    "StaleLease",
    "TaskNotFound",
]
