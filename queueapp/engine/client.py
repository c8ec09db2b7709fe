"""FairQueue: the synchronous client. The operations are declared once in
operations.py; this file only runs their plans (aio.py awaits them)."""

from __future__ import annotations

from typing import Any

import redis

from .call import Call, Plan, Step, drive
from .config import EngineConfig
from .connection import RedisOptions, connect
from .core import Core
from .errors import ConfigError
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

    @classmethod
    def from_url(cls, url: str, config: EngineConfig | None = None, **options: Any) -> FairQueue:
        return cls(connect(RedisOptions(url=url, **options)), config)

    def dedicated(self) -> FairQueue:
        """A client holding one connection of the same pool, for one thread's hot loop:
        no pool checkout and release around every call (about 15 % more tasks/s)."""
        client = redis.Redis(connection_pool=self.redis.connection_pool, single_connection_client=True)
        return FairQueue(client, self.config, self._source)

    # -- execution: the only I/O ------------------------------------------
    def _send(self, call: Call[Any], target: Any) -> Any:
        if call.script:
            return self._scripts[call.script](keys=call.keys, args=call.args, client=target)
        return target.execute_command(*call.args)

    def _execute(self, step: Step) -> Any:
        if isinstance(step, Call):
            return step.parse(self._send(step, self.redis))
        if len(step) == 1:  # a pipeline would add a SCRIPT EXISTS round trip
            return [self._execute(step[0])]
        pipe = self.redis.pipeline(transaction=False)
        for call in step:
            self._send(call, pipe)
        return [c.parse(r) for c, r in zip(step, pipe.execute(), strict=True)]

    def _run[T](self, plan: Plan[T]) -> T:
        return drive(plan, self._execute)
