"""The FairQueue engine: a fair multi-tenant task queue in Redis + Lua.

Imports redis, never Django: any Python process can use it.
"""

from .aio import AsyncFairQueue
from .backoff import RetryPolicy
from .client import FairQueue
from .config import EngineConfig
from .connection import RedisOptions, connect, connect_async
from .errors import (
    ConfigError,
    FairQueueError,
    InvalidState,
    InvalidTask,
    QueueUnavailable,
    StaleLease,
    TaskNotFound,
)
from .lease import Ack, Exchange, FailOutcome, Lease, PushResult
from .reads import Page
from .task import FINISHED_STATES, Priority, State, Task, new_task_id

__all__ = [
    "Ack",
    "Exchange",
    "FINISHED_STATES",
    "AsyncFairQueue",
    "ConfigError",
    "EngineConfig",
    "FailOutcome",
    "FairQueue",
    "FairQueueError",
    "InvalidState",
    "InvalidTask",
    "Lease",
    "Page",
    "Priority",
    "PushResult",
    "QueueUnavailable",
    "RedisOptions",
    "RetryPolicy",
    "StaleLease",
    "State",
    "Task",
    "TaskNotFound",
    "connect",
    "connect_async",
    "new_task_id",
]
