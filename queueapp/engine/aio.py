"""AsyncFairQueue: the asyncio twin of FairQueue. Same core, same method list;
only `_exec` and `_drive` differ (they await)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import redis.asyncio

from .config import EngineConfig
from .connection import RedisOptions, connect_async
from .core import Call, Core
from .errors import ConfigError
from .lease import FailOutcome, Lease, PushResult, Repair
from .reads import Page
from .scripts import ScriptSet, default_scripts
from .task import Task


class AsyncFairQueue:
    def __init__(
        self, client: redis.asyncio.Redis, config: EngineConfig | None = None, scripts: ScriptSet | None = None
    ) -> None:
        if not client.get_connection_kwargs().get("decode_responses"):
            raise ConfigError("AsyncFairQueue needs a Redis client built with decode_responses=True")
        self.redis = client
        self.config = config or EngineConfig()
        self.core = Core(self.config, owner=self)
        source = scripts or default_scripts()
        self._scripts = {name: client.register_script(source[name]) for name in source.names()}

    @classmethod
    def from_url(cls, url: str, config: EngineConfig | None = None, **options: Any) -> AsyncFairQueue:
        return cls(connect_async(RedisOptions(url=url, **options)), config)

    async def aclose(self) -> None:
        await self.redis.aclose()

    # -- execution: the only I/O ------------------------------------------
    async def _exec(self, step: Call | list[Call]) -> Any:
        if isinstance(step, Call):
            if step.script:
                raw = await self._scripts[step.script](keys=step.keys, args=step.args)
            else:
                raw = await self.redis.execute_command(*step.args)
            return step.parse(raw)
        if len(step) == 1:  # a pipeline would add a SCRIPT EXISTS round trip
            return [await self._exec(step[0])]
        async with self.redis.pipeline(transaction=False) as pipe:
            for call in step:
                if call.script:
                    await self._scripts[call.script](keys=call.keys, args=call.args, client=pipe)
                else:
                    pipe.execute_command(*call.args)
            replies = await pipe.execute()
        return [c.parse(r) for c, r in zip(step, replies, strict=True)]

    async def _drive(self, plan: Any) -> Any:
        try:
            step = next(plan)
            while True:
                step = plan.send(await self._exec(step))
        except StopIteration as done:
            return done.value

    # -- producer ---------------------------------------------------------
    async def push(self, task: Task) -> PushResult:
        return (await self._exec(self.core.push_calls([task])))[0][0]

    async def push_many(self, tasks: Iterable[Task]) -> list[PushResult]:
        return [r for chunk in await self._exec(self.core.push_calls(tasks)) for r in chunk]

    async def cancel(self, task_id: str) -> None:
        await self._exec(self.core.cancel_call(task_id))

    # -- consumer ---------------------------------------------------------
    async def pop(self, worker: str, lease_seconds: float | None = None) -> Lease | None:
        return await self._drive(self.core.pop(worker, lease_seconds))

    async def ack(self, lease: Lease, result: Any = None) -> None:
        await self._exec(self.core.ack_call(lease, result))

    async def ack_and_pop(self, lease: Lease, result: Any = None, lease_seconds: float | None = None) -> Lease | None:
        return await self._drive(self.core.ack_and_pop(lease, result, lease_seconds))

    async def fail(self, lease: Lease, exc: BaseException | None = None, **kwargs: Any) -> FailOutcome:
        return await self._exec(self.core.fail_call(lease, exc, **kwargs))

    async def release(self, lease: Lease) -> None:
        await self._exec(self.core.release_call(lease))

    async def heartbeat(self, worker: str, leases: Iterable[Lease], info: dict | None = None, **kw: Any) -> list[str]:
        return await self._exec(self.core.heartbeat_call(worker, leases, info, **kw))

    # -- maintenance ------------------------------------------------------
    async def reap(self, limit: int | None = None) -> tuple[int, int]:
        return await self._exec(self.core.reap_call(limit))

    async def promote(self, limit: int | None = None) -> int:
        return await self._exec(self.core.promote_call(limit))

    async def repair_ready(self, **kwargs: Any) -> Repair:
        return await self._drive(self.core.repair_ready(**kwargs))

    # -- dead letters -----------------------------------------------------
    async def dlq_requeue(self, ids: Sequence[str]) -> tuple[int, list[str]]:
        return await self._exec(self.core.dlq_requeue_call(ids))

    async def dlq_delete(self, ids: Sequence[str]) -> tuple[int, list[str]]:
        return await self._exec(self.core.dlq_delete_call(ids))

    async def dlq_requeue_matching(self, **kwargs: Any) -> int:
        return await self._drive(self.core.dlq_matching("requeue", **kwargs))

    async def dlq_delete_matching(self, **kwargs: Any) -> int:
        return await self._drive(self.core.dlq_matching("delete", **kwargs))

    # -- configuration ----------------------------------------------------
    async def set_worker_config(self, worker: str, **kwargs: Any) -> None:
        await self._exec(self.core.worker_config_call(worker, **kwargs))

    async def delete_worker_config(self, worker: str) -> None:
        await self._exec(self.core.delete_worker_config_call(worker))

    async def set_tenant(self, user: str, **kwargs: Any) -> None:
        await self._exec(self.core.tenant_call(user, **kwargs))

    # -- reads ------------------------------------------------------------
    async def get_task(self, task_id: str) -> Task | None:
        return await self._drive(self.core.get_task(task_id))

    async def tenant_queue(self, user: str, offset: int = 0, limit: int = 50) -> Page:
        return await self._drive(self.core.tenant_queue(user, offset, limit))

    async def running(self, offset: int = 0, limit: int = 50) -> Page:
        return await self._drive(self.core.running(offset, limit))

    async def delayed(self, offset: int = 0, limit: int = 50) -> Page:
        return await self._drive(self.core.delayed(offset, limit))

    async def dead_letters(self, offset: int = 0, limit: int = 50, user: str | None = None) -> Page:
        return await self._drive(self.core.dead_letters(offset, limit, user))

    async def tenants_with_backlog(self, offset: int = 0, limit: int = 50) -> Page:
        return await self._drive(self.core.tenants_with_backlog(offset, limit))

    async def stats(self) -> dict[str, int]:
        return await self._drive(self.core.stats())

    async def tenant_stats(self, user: str) -> dict[str, int]:
        return await self._drive(self.core.tenant_stats(user))

    async def priority_stats(self) -> dict:
        return await self._drive(self.core.priority_stats())

    async def throughput(self, minutes: int = 60) -> list:
        return await self._drive(self.core.throughput(minutes))

    async def workers(self) -> list[dict]:
        return await self._drive(self.core.workers())

    async def idle(self, within_ms: int = 1000) -> bool:
        return await self._drive(self.core.idle(within_ms))

    async def worker_config(self, worker: str) -> dict | None:
        return await self._drive(self.core.worker_config(worker))

    async def unregistered(self, limit: int = 1000) -> list:
        return await self._drive(self.core.unregistered(limit))

    async def orphaned(self, limit: int = 1000, alive_ms: int = 60_000) -> list:
        return await self._drive(self.core.orphaned(limit, alive_ms))

    async def config_snapshot(self) -> dict:
        return await self._drive(self.core.config_snapshot())

    async def is_synced(self) -> bool:
        return await self._drive(self.core.is_synced())

    async def purge(self, user: str, reason: str = "purged", **kwargs: Any) -> int:
        return await self._drive(self.core.purge(user, reason, **kwargs))

    async def mark_synced(self) -> None:
        await self._exec(self.core.mark_synced_call())

    async def set_schedule(self, name: str, config: dict[str, str] | None) -> None:
        await self._exec(self.core.schedule_apply_call(name, config))

    async def schedules(self) -> tuple:
        return await self._drive(self.core.schedules())

    async def schedules_version(self) -> str | None:
        return await self._drive(self.core.schedules_version())

    async def redis_time_ms(self) -> int:
        return await self._drive(self.core.redis_time_ms())

    async def fire_schedule(
        self, name: str, fires: list, next_ms: int | None, skipped: int = 0, key_ttl_ms: int = 3_600_000
    ) -> tuple[int, int]:
        return await self._exec(self.core.schedule_fire_call(name, fires, next_ms, skipped, key_ttl_ms))

    async def fairness(self, minutes: int = 15, top: int = 20, users: list[str] | None = None) -> tuple:
        return await self._drive(self.core.fairness(minutes, top, users))

    async def tenant_keys(self, offset: int = 0, limit: int = 50, prefix: str = "", by: str = "key") -> Page:
        return await self._drive(self.core.tenant_keys(offset, limit, prefix, by))

    async def tenant_rows(self, users: list[str]) -> dict:
        return await self._drive(self.core.tenant_rows(users))

    async def recent(self, user: str, limit: int = 20) -> list:
        return await self._drive(self.core.recent(user, limit))
