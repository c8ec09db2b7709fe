"""FairQueue: the synchronous client. The operations are declared once in
operations.py; this file only runs their plans (aio.py awaits them)."""

from __future__ import annotations

from functools import partial
from typing import Any

import redis
from redis.exceptions import ResponseError
from redis.sentinel import SentinelConnectionPool

from .ahead import Sent
from .background import InBackground
from .call import Call, Plan, Step, drive, drive_from
from .config import EngineConfig
from .connection import RedisOptions, connect
from .core import Core
from .errors import ConfigError
from .functions import Mode, Remedy, after_failed_load, remedy
from .operations import Operations
from .scripts import ScriptSet, default_scripts


class FairQueue(Operations):
    def __init__(
        self, client: redis.Redis, config: EngineConfig | None = None, scripts: ScriptSet | None = None
    ) -> None:
        if not client.get_connection_kwargs().get("decode_responses"):
            raise ConfigError("FairQueue needs a Redis client built with decode_responses=True")
        self.redis = client
        self.config = config or EngineConfig()
        self.core = Core(self.config, owner=self)
        self._source = scripts or default_scripts()
        self._scripts = {name: client.register_script(self._source[name]) for name in self._source.names()}
        self._library = self._source.library()
        self._mode = Mode(self.config.redis_functions)
        self._owns_client = False  # dedicated() copies hold their own connection

    @classmethod
    def from_url(cls, url: str, config: EngineConfig | None = None, **options: Any) -> FairQueue:
        return cls(connect(RedisOptions(url=url, **options)), config)

    def dedicated(self) -> FairQueue:
        """A client holding one connection of the same pool, for one thread's hot loop:
        no pool checkout and release around every call (about 15 % more tasks/s). Not under
        Sentinel: redis-py re-resolves the master only when a connection is checked out
        (SentinelManagedConnection.connect); a held one reconnects to its old address, the
        demoted master, on every retry (tests/faults/test_sentinel.py, T13)."""
        pool = getattr(self.redis, "connection_pool", None)
        if pool is None:  # a RedisCluster: a pool per node, routed per call; share it
            return self.sibling(self.config)
        hold = not isinstance(pool, SentinelConnectionPool)
        client = redis.Redis(connection_pool=pool, single_connection_client=hold)
        copy = FairQueue(client, self.config, self._source)
        copy._mode = self._mode
        copy._owns_client = True
        return copy

    def sibling(self, config: EngineConfig) -> FairQueue:
        """Another queue (another shard's prefix) on this same client, scripts and mode."""
        copy = FairQueue(self.redis, config, self._source)
        copy._mode = self._mode
        return copy

    def close(self) -> None:
        """Let go of a dedicated() copy's connection; a shared client stays open."""
        if self._owns_client:
            self.redis.close()

    # -- execution: the only I/O ------------------------------------------
    def _send(self, call: Call[Any], target: Any) -> Any:
        if call.script and not self._mode.functions:  # redis-py's Script: loads itself on NOSCRIPT
            return self._scripts[call.script](keys=call.keys, args=call.args, client=target)
        return target.execute_command(*self._command(call))

    def _command(self, call: Call[Any]) -> tuple[Any, ...]:
        """The words that call `call`: what _send sends and what a Sent writes itself."""
        if call.script and self._mode.functions:
            return ("FCALL", self._library.functions[call.script], len(call.keys), *call.keys, *call.args)
        if call.script:
            return ("EVALSHA", self._scripts[call.script].sha, len(call.keys), *call.keys, *call.args)
        return call.args

    def _execute(self, step: Step) -> Any:
        if isinstance(step, Call):
            try:
                return step.parse(self._send(step, self.redis))
            except ResponseError as exc:
                if not (step.script and self._remedied(exc)):
                    raise
                return step.parse(self._send(step, self.redis))
        if len(step) == 1:  # EVALSHA in a pipeline would add a SCRIPT EXISTS round trip
            return [self._execute(step[0])]
        replies = self._pipeline(step)
        again = [i for i, (c, r) in enumerate(zip(step, replies, strict=True)) if c.script and remedy(r)]
        if again and self._remedied(replies[again[0]]):  # nothing ran: send those calls again
            for i, reply in zip(again, self._pipeline([step[i] for i in again]), strict=True):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return [c.parse(r) for c, r in zip(step, replies, strict=True)]

    def _pipeline(self, calls: list[Call[Any]]) -> list[Any]:
        pipe = self.redis.pipeline(transaction=False)
        for call in calls:
            self._send(call, pipe)
        return list(pipe.execute(raise_on_error=False))

    def _remedied(self, exc: BaseException) -> bool:
        """Load the library, or fall back to EVALSHA, when `exc` calls for it; True: send again."""
        first, then = remedy(exc), None
        if first is Remedy.LOAD:
            try:
                self.redis.function_load(self._library.code)
            except ResponseError as load_error:
                then, exc = after_failed_load(load_error), load_error
        return self._mode.settle(first, then, exc)

    def _run[T](self, plan: Plan[T]) -> T:
        return drive(plan, self._execute)

    def _sent[T](self, plan: Plan[T]) -> Sent[T] | None:
        """The plan's first call written to this client's own connection, its reply read by
        .result() (ahead.py); None for a client that holds no connection (shared, Sentinel)."""
        connection = getattr(self.redis, "connection", None) if self._owns_client else None
        if connection is None:
            plan.close()
            return None
        step = next(plan)
        if not isinstance(step, Call):
            raise TypeError("a sent plan starts with one call, not a pipeline")
        return Sent(self, connection, plan, step)

    def _start[T](self, plan: Plan[T]) -> InBackground[T]:
        return InBackground(partial(drive_from, plan, next(plan), self._execute), "fairqueue-plan")
