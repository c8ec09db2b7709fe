"""A one-slot worker leases the next task while the current one runs, as long as its tasks
are short, so the round trip between two tasks overlaps a task instead of idling the slot.

Without it a one-slot worker spends a whole round trip (the fused ack-and-pop: network
plus script) between two tasks with nothing running. While the average task is shorter
than `lease_ahead_ms` (WorkerOptions, `runworker --lease-ahead-ms`), the slot leases one
task ahead: each task's ack then travels, fused with the pop of the task after next, while
the next one runs. The pop order is the fair order as always; a task leased ahead waits for
at most one short task. If the running task outlasts HOLD_FACTOR x lease_ahead_ms (a long
task after short ones), the task leased ahead goes back to its place at once (a release: no
delivery counted), so nothing sits leased behind a long task while other workers could run
it. Tasks longer than that on average: nothing is leased ahead.

How the call travels: on the slot's own connection it is written and its reply read after
the next task (ahead.py: no thread hand-off, so even no-op tasks gain; a watcher thread
gives back what waits behind a long task). A client without a connection of its own (a
sharded queue, Sentinel) makes the call from a helper thread instead, which costs two
hand-offs per task: there, tasks shorter than MIN_AVERAGE lease nothing ahead.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from .dispatch import STALE
from .errors import InvalidTask, StaleLease, TaskNotFound
from .execution import Outcome
from .lease import Lease

HOLD_FACTOR = 10  # a task leased ahead waits at most this many lease_ahead_ms for its slot
MIN_HOLD = 0.05  # ... and never gives up sooner than this (s)
SMOOTHING = 0.2  # weight of the newest task in the running average of durations
# with a helper thread, tasks shorter than this on average gain nothing: two hand-offs per
# task cost more than the overlap saves (0.3 ms no-op tasks drained 2,417/s without, 1,740/s with)
MIN_AVERAGE = 0.001
log = logging.getLogger("fairqueue.worker")


class LeaseAhead:
    def __init__(self, worker: Any, queue: Any, lease_ahead_ms: float) -> None:
        self.worker, self.queue = worker, queue  # the Worker (worker.py imports this module) and its slot's client
        self.threshold = lease_ahead_ms / 1000
        self.hold = max(MIN_HOLD, HOLD_FACTOR * self.threshold)
        self.average: float | None = None  # of task durations, s; None until a task ran
        self.sends: bool | None = None  # the client writes calls itself (ahead.py); None: not known yet
        self.lock = threading.Lock()  # the slot's connection, between the slot and the watcher
        self.pending: Callable[[], Lease | None] | None = None  # reads the call in flight
        self.since: float | None = None  # when the task that call waits behind started
        self.running = threading.Event()  # helper-thread mode: set when that task has ended
        self.io: ThreadPoolExecutor | None = None
        self.watcher: threading.Thread | None = None
        self.closed = threading.Event()

    def before(self) -> None:
        """A task is about to run: with nothing in flight and short tasks, lease the next now.
        From here to after() the watcher may read the call in flight (the slot is busy with
        its task, not with the connection); before and after, only the slot does."""
        with self.lock:
            if self.pending is None and self.wanted():
                self._pop_ahead()
            self.since = time.monotonic()

    def after(self, lease: Lease, outcome: Outcome) -> Lease | None:
        """`lease`'s task ended: its outcome goes to Redis, and the lease to run next comes back
        (the one leased ahead, or what the fused ack-and-pop leased, or None)."""
        w = self.worker
        if self.io is not None:  # helper-thread mode: the call in flight waits on this task's end
            self.running.set()
            self.running = threading.Event()
        self.observe(outcome.duration)
        nxt = self.take()
        if nxt is None:  # nothing leased ahead: ack and pop in one call, as without
            following: Lease | None = w._report_outcome(lease, outcome)
            return following
        if not self.wanted():  # the tasks got long: ack this one alone, lease nothing more ahead
            w._report_outcome(lease, outcome, fuse=False)
        elif self.sends:  # ack this one and lease one more while the next runs
            self._send_outcome(lease, outcome)
        else:
            self._in_thread(lambda: w._report_outcome(lease, outcome))
        return nxt

    def wanted(self) -> bool:
        w = self.worker
        floor = 0.0 if self.sends is not False else MIN_AVERAGE
        short = self.average is not None and floor <= self.average < self.threshold
        return short and w.enabled and not w.stopping.is_set()

    def observe(self, seconds: float) -> None:
        self.average = seconds if self.average is None else (1 - SMOOTHING) * self.average + SMOOTHING * seconds

    def take(self) -> Lease | None:
        """The lease the call in flight brought (waits for it), None when there is none."""
        with self.lock:
            pending, self.pending, self.since = self.pending, None, None
        return pending() if pending is not None else None

    def close(self) -> None:
        """At the end of the slot: the last ack is sent, a task leased ahead given back."""
        self.running.set()
        self.closed.set()
        try:
            lease = self.take()
            if lease is not None:
                self.worker._give_back(lease)
        finally:
            if self.io is not None:
                self.io.shutdown(wait=True)

    # -- written on the slot's connection (ahead.py) ---------------------------
    def _pop_ahead(self) -> None:
        """Lease the next task while the current one runs."""
        w = self.worker
        if self.sends is not False:
            sent = w._call(self.queue.send_pop, w.options.worker_id, w.lease_seconds)
            self.sends = sent is not None
            if sent is not None:
                self.pending = lambda: self._leased(w._call(sent.result, until_stop=True))
                self._watching()
                return

        def pop() -> Lease | None:
            if w.stopping.is_set():
                return None
            return self._leased(w._call(self.queue.pop, w.options.worker_id, w.lease_seconds, until_stop=True))

        self._in_thread(pop)

    def _send_outcome(self, lease: Lease, outcome: Outcome) -> None:
        """A success: its ack fused with the next pop, written now and read after the next
        task (then logged, as _report_outcome does); anything else the usual way, now."""
        w = self.worker
        sent = None
        if outcome.ok and w.current.get(lease.token) is lease:
            w._reporting.add(lease.token)  # before the ack goes: the heartbeat must not call it lost
            with contextlib.suppress(InvalidTask):  # the return value is not JSON: _report_outcome records that
                sent = w._call(self.queue.send_ack_and_pop, lease, outcome.result, w.lease_seconds)
        if sent is None:  # done here (its _finished lets go of _reporting), nothing more leased ahead
            w._report_outcome(lease, outcome, fuse=False)
            return

        def read() -> Lease | None:
            try:
                nxt, result = w._call(sent.result), "succeeded"
            except (StaleLease, TaskNotFound):
                nxt, result = None, STALE
            nxt = self._leased(nxt)
            w._finished(lease, outcome, result)
            return nxt

        with self.lock:
            self.pending = read
        self._watching()

    def _watching(self) -> None:
        if self.watcher is None:
            self.watcher = threading.Thread(target=self._watch, name="slot-watch", daemon=True)
            self.watcher.start()

    def _watch(self) -> None:
        """Give back a lease that waits behind a task running past `hold` (its call's reply is
        read here, under the lock, only between before() and after(): the slot is busy with
        its task then, not with the connection)."""
        while not self.closed.wait(self.hold / 4):
            with self.lock:
                if self.pending is None or self.since is None or time.monotonic() - self.since < self.hold:
                    continue
                read, self.pending, self.since = self.pending, None, None
                try:
                    lease = read()
                    if lease is not None:
                        self.worker._give_back(lease)
                except Exception:  # the lease (if any) expires and is served again: say so
                    log.exception("could not give back the task leased ahead of a long one")

    def _leased(self, lease: Lease | None) -> Lease | None:
        if lease is not None:
            self.worker.current[lease.token] = lease  # renewed by the heartbeat, released at a stop
        return lease

    # -- from a helper thread (clients without a connection of their own) -------
    def _in_thread(self, call: Callable[[], Lease | None]) -> None:
        if self.io is None:
            self.io = ThreadPoolExecutor(1, thread_name_prefix="slot-io")
        future: Future[Lease | None] = self.io.submit(self._held, call, self.running)
        self.pending = future.result

    def _held(self, call: Callable[[], Lease | None], running: threading.Event) -> Lease | None:
        lease = call()
        if lease is not None and not running.wait(self.hold):
            self.worker._give_back(lease)  # the running task is a long one: not held behind it
            return None
        return lease
