"""One blocking call on a thread of its own while the caller goes on.

FairQueue.start_push_each hands its round trip to one: the push then waits on Redis (about
half of a big batch's time: the scripts run ~13 µs per task) while the caller builds the
batch's TaskResults (enqueue_many), instead of one after the other. A thread per call, not a pool: nothing shared
to size or to lose across a fork (a pre-forking server), and a batch is big enough
(`OVERLAP_MIN` calls) that starting one costs under a microsecond per task.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class InBackground[T]:
    def __init__(self, call: Callable[[], T], name: str = "fairqueue-background") -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), name=name, daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], T]) -> None:
        try:
            self._value = call()
        except BaseException as exc:  # handed to the caller: result() raises it there
            self._error = exc

    def result(self) -> T:
        """The call's return value (waits for it); its exception raised here, in the caller."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
