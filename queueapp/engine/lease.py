"""Lease: a unit of work handed out by pop (Sidekiq's UnitOfWork).

It carries the task and the lease token; its methods report the outcome
through the queue that made it, sync or async alike (the async queue's
methods return awaitables).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .task import Task, encode_json


@dataclass(slots=True)
class Lease:
    task: Task
    token: str
    worker: str
    queue: Any = None  # the FairQueue / AsyncFairQueue (or ShardedQueue) that popped it
    shard: int = 0  # the shard it was leased from (shards.py); 0 without shards

    @property
    def id(self) -> str:
        return self.task.id

    # Each returns what the queue's operation returns: the value (FairQueue) or an awaitable
    # of it (AsyncFairQueue), hence Any.
    def ack(self, result: Any = None) -> Any:
        return self.queue.ack(self, result)

    def ack_and_pop(self, result: Any = None) -> Any:
        return self.queue.ack_and_pop(self, result)

    def fail(self, exc: BaseException | None = None, **kwargs: Any) -> Any:
        return self.queue.fail(self, exc, **kwargs)

    def release(self) -> Any:
        return self.queue.release(self)


@dataclass(frozen=True, slots=True)
class Ack:
    """A finished lease and its result, JSON-encoded when the task returned (so a result
    that is not JSON fails that task alone, before it joins a batch)."""

    lease: Lease
    result: str  # JSON text

    @classmethod
    def of(cls, lease: Lease, result: Any) -> Ack:
        """InvalidTask when `result` is not JSON."""
        return cls(lease, encode_json(result, "result"))


@dataclass(frozen=True, slots=True)
class Exchange:
    """What ack_and_pop_many did: one status per ack ('ok', 'stale', 'not_found'), in
    order, and the tasks it leased (fewer than asked when the worker's tenants ran dry)."""

    acked: list[str]
    leases: list[Lease]
    disabled: bool = False  # the worker's stored configuration is disabled: nothing was popped
    held_due_in: float | None = None  # nothing leased: seconds until a held tenant's hold ends


@dataclass(frozen=True, slots=True)
class FailOutcome:
    outcome: str  # 'retry' | 'dead' | 'failed'
    reason: str | None = None
    due_ms: int | None = None


@dataclass(frozen=True, slots=True)
class PushResult:
    id: str
    created: bool  # False: a task with this id already existed (idempotent resend)


@dataclass(frozen=True, slots=True)
class Repair:
    """What repair_ready found (dry run) or fixed."""

    tenants: int  # tenants with queued work that were missing from a ready set they belong to
    tasks: int  # the tasks queued in those tenants' lanes (stranded until now)
    counters: int  # backlog counters that did not match the lanes
    gauges: int  # per-tenant queued gauges that did not match the lanes


@dataclass(frozen=True, slots=True)
class Broken:
    """A popped record Python cannot decode; the client dead-letters it and pops again."""

    id: str
    token: str
    reason: str
    detail: str
