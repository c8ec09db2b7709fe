"""A call written to a client's own connection and not waited for: its reply is read later.

A one-slot worker sends the ack of the task that just ended, fused with the pop of the
task after next, and runs the next task while Redis works (lease_ahead.py): the round trip
and the script overlap a task on the slot's own thread. A hand-off to another thread per
task cost more than a no-op task takes; this costs nothing but the write.

redis-py's Connection writes the command and parses the reply; only the wait moves. A
reply that cannot be read (the connection broke, a timeout, Redis lost the Functions
library or the script) sends the call again the usual way, with redis-py's retries: what
a command that failed the same way does. Nothing else may use the connection until the
reply is read (the worker's slot owns its dedicated() client).
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import ConnectionError, NoScriptError, ResponseError, TimeoutError

from .call import Call, Plan
from .functions import remedy


class Sent[T]:
    def __init__(self, client: Any, connection: Any, plan: Plan[T], step: Call[Any]) -> None:
        # client: the FairQueue that sent it (client.py imports this module)
        self.client, self.connection, self.plan, self.first = client, connection, plan, step
        self._at: Any = step  # the step (a call, or a pipeline's calls) whose reply the plan waits for
        self._written = False
        self._done, self._value = False, None
        self._error: BaseException | None = None
        try:
            connection.send_command(*client._command(step))
            self._written = True
        except (ConnectionError, TimeoutError):
            connection.disconnect()  # result() sends it again, with redis-py's retries

    def result(self) -> T:
        """The plan's value: waits for the reply (already there when the task outlasted the
        call). Raises what the plan raises; after a RedisError, calling again goes on from
        the call that failed (each reply reaches the plan once)."""
        if self._error is not None:
            raise self._error
        while not self._done:
            at = self._at
            reply = self._read_first() if at is self.first else self.client._execute(at)
            try:
                self._at = self.plan.send(reply)
            except StopIteration as done:
                self._done, self._value = True, done.value
            except BaseException as exc:  # the plan ended with it: so does every later call
                self._error = exc
                raise
        return self._value  # type: ignore[return-value]

    def _read_first(self) -> Any:
        """The first call's parsed reply: read from the connection, else sent again."""
        if self._written:
            self._written = False
            try:
                return self.first.parse(self.connection.read_response())
            except (ConnectionError, TimeoutError):
                self.connection.disconnect()
            except NoScriptError:
                pass  # EVALSHA of a script the server lost: redis-py's Script loads it
            except ResponseError as exc:
                if not (remedy(exc) and self.client._remedied(exc)):
                    raise
        return self.client._execute(self.first)
