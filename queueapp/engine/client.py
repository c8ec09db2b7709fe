"""FairQueue: the synchronous client. Each method is one line over the core;
only `_exec` and `_drive` do I/O (their twins live in aio.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import redis

from .config import EngineConfig
from .connection import RedisOptions, connect
from .core import Call, Core
from .errors import ConfigError
from .lease import FailOutcome, Lease, PushResult, Repair
from .reads import Page
from .scripts import ScriptSet, default_scripts
from .task import Task


class FairQueue:
    def __init__(
        self, client: redis.Redis, config: EngineConfig | None = None, scripts: ScriptSet | None = None
    ) -> None:
        if not client.get_connection_kwargs().get("decode_responses"):
            raise ConfigError("FairQueue needs a Redis client built with decode_responses=True")
        self.redis = client
        self.config = config or EngineConfig()
        self.core = Core(self.config, owner=self)
        source = scripts or default_scripts()
        self._scripts = {name: client.register_script(source[name]) for name in source.names()}

    @classmethod
    def from_url(cls, url: str, config: EngineConfig | None = None, **options: Any) -> FairQueue:
        return cls(connect(RedisOptions(url=url, **options)), config)

    def dedicated(self) -> FairQueue:
        """A client holding one connection of the same pool, for one thread's hot loop:
        no pool checkout and release around every call (about 15 % more tasks/s)."""
        client = redis.Redis(connection_pool=self.redis.connection_pool, single_connection_client=True)
        return FairQueue(client, self.config)

    # -- execution: the only I/O ------------------------------------------
    def _raw(self, call: Call, target: Any) -> Any:
        if call.script:
            return self._scripts[call.script](keys=call.keys, args=call.args, client=target)
        return target.execute_command(*call.args)

    def _exec(self, step: Call | list[Call]) -> Any:
        if isinstance(step, Call):
            return step.parse(self._raw(step, self.redis))
        if len(step) == 1:  # a pipeline would add a SCRIPT EXISTS round trip
            return [self._exec(step[0])]
        pipe = self.redis.pipeline(transaction=False)
        for call in step:
            self._raw(call, pipe)
        return [c.parse(r) for c, r in zip(step, pipe.execute(), strict=True)]

    def _drive(self, plan: Any) -> Any:
        try:
            step = next(plan)
            while True:
                step = plan.send(self._exec(step))
        except StopIteration as done:
            return done.value

    # -- producer ---------------------------------------------------------
    def push(self, task: Task) -> PushResult:
        return self._exec(self.core.push_calls([task]))[0][0]

    def push_many(self, tasks: Iterable[Task]) -> list[PushResult]:
        """All tasks in one pipelined round trip (chunks of config.batch_chunk per script call)."""
        return [r for chunk in self._exec(self.core.push_calls(tasks)) for r in chunk]

    def cancel(self, task_id: str) -> None:
        self._exec(self.core.cancel_call(task_id))

    # -- consumer ---------------------------------------------------------
    def pop(self, worker: str, lease_seconds: float | None = None) -> Lease | None:
        return self._drive(self.core.pop(worker, lease_seconds))

    def ack(self, lease: Lease, result: Any = None) -> None:
        self._exec(self.core.ack_call(lease, result))

    def ack_and_pop(self, lease: Lease, result: Any = None, lease_seconds: float | None = None) -> Lease | None:
        return self._drive(self.core.ack_and_pop(lease, result, lease_seconds))

    def fail(self, lease: Lease, exc: BaseException | None = None, **kwargs: Any) -> FailOutcome:
        return self._exec(self.core.fail_call(lease, exc, **kwargs))

    def release(self, lease: Lease) -> None:
        self._exec(self.core.release_call(lease))

    def heartbeat(self, worker: str, leases: Iterable[Lease], info: dict | None = None, **kw: Any) -> list[str]:
        return self._exec(self.core.heartbeat_call(worker, leases, info, **kw))

    # -- maintenance ------------------------------------------------------
    def reap(self, limit: int | None = None) -> tuple[int, int]:
        return self._exec(self.core.reap_call(limit))

    def promote(self, limit: int | None = None) -> int:
        return self._exec(self.core.promote_call(limit))

    def repair_ready(self, **kwargs: Any) -> Repair:
        return self._drive(self.core.repair_ready(**kwargs))

    # -- dead letters -----------------------------------------------------
    def dlq_requeue(self, ids: Sequence[str]) -> tuple[int, list[str]]:
        return self._exec(self.core.dlq_requeue_call(ids))

    def dlq_delete(self, ids: Sequence[str]) -> tuple[int, list[str]]:
        return self._exec(self.core.dlq_delete_call(ids))

    def dlq_requeue_matching(self, **kwargs: Any) -> int:
        """Requeue every dead letter of a tenant (user=) and/or task path (func=)."""
        return self._drive(self.core.dlq_matching("requeue", **kwargs))

    def dlq_delete_matching(self, **kwargs: Any) -> int:
        return self._drive(self.core.dlq_matching("delete", **kwargs))

    # -- configuration ----------------------------------------------------
    def set_worker_config(self, worker: str, **kwargs: Any) -> None:
        self._exec(self.core.worker_config_call(worker, **kwargs))

    def delete_worker_config(self, worker: str) -> None:
        self._exec(self.core.delete_worker_config_call(worker))

    def set_tenant(self, user: str, **kwargs: Any) -> None:
        self._exec(self.core.tenant_call(user, **kwargs))

    # -- reads ------------------------------------------------------------
    def get_task(self, task_id: str) -> Task | None:
        return self._drive(self.core.get_task(task_id))

    def tenant_queue(self, user: str, offset: int = 0, limit: int = 50) -> Page:
        return self._drive(self.core.tenant_queue(user, offset, limit))

    def running(self, offset: int = 0, limit: int = 50) -> Page:
        return self._drive(self.core.running(offset, limit))

    def delayed(self, offset: int = 0, limit: int = 50) -> Page:
        return self._drive(self.core.delayed(offset, limit))

    def dead_letters(self, offset: int = 0, limit: int = 50, user: str | None = None) -> Page:
        return self._drive(self.core.dead_letters(offset, limit, user))

    def tenants_with_backlog(self, offset: int = 0, limit: int = 50) -> Page:
        return self._drive(self.core.tenants_with_backlog(offset, limit))

    def stats(self) -> dict[str, int]:
        return self._drive(self.core.stats())

    def tenant_stats(self, user: str) -> dict[str, int]:
        return self._drive(self.core.tenant_stats(user))

    def priority_stats(self) -> dict:
        return self._drive(self.core.priority_stats())

    def throughput(self, minutes: int = 60) -> list:
        return self._drive(self.core.throughput(minutes))

    def workers(self) -> list[dict]:
        return self._drive(self.core.workers())

    def idle(self, within_ms: int = 1000) -> bool:
        return self._drive(self.core.idle(within_ms))

    def worker_config(self, worker: str) -> dict | None:
        return self._drive(self.core.worker_config(worker))

    def unregistered(self, limit: int = 1000) -> list:
        return self._drive(self.core.unregistered(limit))

    def orphaned(self, limit: int = 1000, alive_ms: int = 60_000) -> list:
        return self._drive(self.core.orphaned(limit, alive_ms))

    def config_snapshot(self) -> dict:
        return self._drive(self.core.config_snapshot())

    def is_synced(self) -> bool:
        return self._drive(self.core.is_synced())

    def purge(self, user: str, reason: str = "purged", **kwargs: Any) -> int:
        """Move a tenant's queued and deferred tasks to the DLQ with `reason` (bounded batches)."""
        return self._drive(self.core.purge(user, reason, **kwargs))

    def mark_synced(self) -> None:
        self._exec(self.core.mark_synced_call())

    # -- schedules ----------------------------------------------------------
    def set_schedule(self, name: str, config: dict[str, str] | None) -> None:
        """Store a schedule's configuration (string values), or delete it (None)."""
        self._exec(self.core.schedule_apply_call(name, config))

    def schedules(self) -> tuple:
        return self._drive(self.core.schedules())

    def schedules_version(self) -> str | None:
        return self._drive(self.core.schedules_version())

    def redis_time_ms(self) -> int:
        return self._drive(self.core.redis_time_ms())

    def fire_schedule(
        self, name: str, fires: list, next_ms: int | None, skipped: int = 0, key_ttl_ms: int = 3_600_000
    ) -> tuple[int, int]:
        """Enqueue due fires [(fire key, at ms, Task)] once each and move the schedule on."""
        return self._exec(self.core.schedule_fire_call(name, fires, next_ms, skipped, key_ttl_ms))

    # -- dashboard reads --------------------------------------------------
    def fairness(self, minutes: int = 15, top: int = 20, users: list[str] | None = None) -> tuple:
        return self._drive(self.core.fairness(minutes, top, users))

    def tenant_keys(self, offset: int = 0, limit: int = 50, prefix: str = "", by: str = "key") -> Page:
        return self._drive(self.core.tenant_keys(offset, limit, prefix, by))

    def tenant_rows(self, users: list[str]) -> dict:
        return self._drive(self.core.tenant_rows(users))

    def recent(self, user: str, limit: int = 20) -> list:
        return self._drive(self.core.recent(user, limit))
