"""AsyncFairQueue: the asyncio client. Same operations (operations.py), same
core; `_run` returns a coroutine that awaits each step of the plan."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

import redis.asyncio
from redis.exceptions import ResponseError

from .call import Call, Plan, Step
from .config import EngineConfig
from .connection import RedisOptions, connect_async
from .core import Core
from .errors import ConfigError
from .functions import Mode, Remedy, after_failed_load, remedy
from .operations import Operations
from .scripts import ScriptSet, default_scripts


class AsyncFairQueue(Operations):
    def __init__(
        self, client: redis.asyncio.Redis, config: EngineConfig | None = None, scripts: ScriptSet | None = None
    ) -> None:
        if not client.get_connection_kwargs().get("decode_responses"):  # type: ignore[no-untyped-call]
            raise ConfigError("AsyncFairQueue needs a Redis client built with decode_responses=True")
        self.redis = client
        self.config = config or EngineConfig()
        self.core = Core(self.config, owner=self)
        source = scripts or default_scripts()
        self._scripts = {name: client.register_script(source[name]) for name in source.names()}
        self._library = source.library()
        self._mode = Mode(self.config.redis_functions)

    @classmethod
    def from_url(cls, url: str, config: EngineConfig | None = None, **options: Any) -> AsyncFairQueue:
        return cls(connect_async(RedisOptions(url=url, **options)), config)

    async def aclose(self) -> None:
        await self.redis.aclose()

    # -- execution: the only I/O (the same steps as client.py, awaited) --------
    def _send(self, call: Call[Any], target: Any) -> Any:
        if call.script and self._mode.functions:
            return target.fcall(self._library.functions[call.script], len(call.keys), *call.keys, *call.args)
        if call.script:
            return self._scripts[call.script](keys=call.keys, args=call.args, client=target)
        return target.execute_command(*call.args)

    async def _execute(self, step: Step) -> Any:
        if isinstance(step, Call):
            try:
                return step.parse(await self._send(step, self.redis))
            except ResponseError as exc:
                if not (step.script and await self._remedied(exc)):
                    raise
                return step.parse(await self._send(step, self.redis))
        if len(step) == 1:  # EVALSHA in a pipeline would add a SCRIPT EXISTS round trip
            return [await self._execute(step[0])]
        replies = await self._pipeline(step)
        again = [i for i, (c, r) in enumerate(zip(step, replies, strict=True)) if c.script and remedy(r)]
        if again and await self._remedied(replies[again[0]]):  # nothing ran: send those calls again
            for i, reply in zip(again, await self._pipeline([step[i] for i in again]), strict=True):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return [c.parse(r) for c, r in zip(step, replies, strict=True)]

    async def _pipeline(self, calls: list[Call[Any]]) -> list[Any]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for call in calls:
                result = self._send(call, pipe)
                if call.script and not self._mode.functions:
                    await result  # redis-py's async Script queues itself on the pipeline when awaited
            return list(await pipe.execute(raise_on_error=False))

    async def _remedied(self, exc: BaseException) -> bool:
        """Load the library, or fall back to EVALSHA, when `exc` calls for it; True: send again."""
        first, then = remedy(exc), None
        if first is Remedy.LOAD:
            try:
                await self.redis.function_load(self._library.code)
            except ResponseError as load_error:
                then, exc = after_failed_load(load_error), load_error
        return self._mode.settle(first, then, exc)

    async def _drive[T](self, plan: Plan[T]) -> T:
        try:
            step = next(plan)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        return await self._drive_from(plan, step)

    async def _drive_from[T](self, plan: Plan[T], step: Step) -> T:
        try:
            while True:
                step = plan.send(await self._execute(step))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def _run[T](self, plan: Plan[T]) -> Coroutine[Any, Any, T]:  # type: ignore[override]
        return self._drive(plan)

    def _sent[T](self, plan: Plan[T]) -> None:
        plan.close()
        return None  # a coroutine overlaps its waits itself

    def _start[T](self, plan: Plan[T]) -> Coroutine[Any, Any, T]:
        return self._drive_from(plan, next(plan))  # the first step here: a bad call raises at once
