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

from .call import Call, Plan, drive_from
from .functions import remedy

_UNREAD = object()


class Sent[T]:
    def __init__(self, client: Any, connection: Any, plan: Plan[T], step: Call[Any]) -> None:
        # client: the FairQueue that sent it (client.py imports this module)
        self.client, self.connection, self.plan, self.step = client, connection, plan, step
        self._reply: Any = _UNREAD
        self._written = False
        try:
            connection.send_command(*client._command(step))
            self._written = True
        except (ConnectionError, TimeoutError):
            connection.disconnect()  # result() sends it again, with redis-py's retries

    def result(self) -> T:
        """The plan's value: waits for the reply (already there when the task outlasted the
        call). Raises what the call raises; after a RedisError, calling again sends again."""
        if self._reply is _UNREAD:
            self._reply = self._first()
        try:
            step = self.plan.send(self._reply)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        return drive_from(self.plan, step, self.client._execute)

    def _first(self) -> Any:
        """The first call's parsed reply: read from the connection, else sent again."""
        if self._written:
            self._written = False
            try:
                return self.step.parse(self.connection.read_response())
            except (ConnectionError, TimeoutError):
                self.connection.disconnect()
            except NoScriptError:
                pass  # EVALSHA of a script the server lost: redis-py's Script loads it
            except ResponseError as exc:
                if not (remedy(exc) and self.client._remedied(exc)):
                    raise
        return self.client._execute(self.step)
