"""A one-slot worker leases the next task while the current one runs, as long as its tasks
are short, so the round trip between two tasks overlaps a task instead of idling the slot.

Without it a one-slot worker spends a whole round trip (the fused ack-and-pop: network
plus script) between two tasks with nothing running. While the average task is shorter
than `lease_ahead_ms` (WorkerOptions, `runworker --lease-ahead-ms`), the slot leases one
task ahead: each task's ack then travels, fused with the pop of the task after next, in the
background while the next one runs. The pop order is the fair order as always; a task leased
ahead waits for at most one short task. If the running task outlasts HOLD_FACTOR x
lease_ahead_ms (a long task after short ones), the task leased ahead goes back to its place
at once (a release: no delivery counted), so nothing sits leased behind a long task while
other workers could run it. Tasks longer than that on average: nothing is leased ahead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from .execution import Outcome
from .lease import Lease

HOLD_FACTOR = 10  # a task leased ahead waits at most this many lease_ahead_ms for its slot
MIN_HOLD = 0.05  # ... and never gives up sooner than this (s)
SMOOTHING = 0.2  # weight of the newest task in the running average of durations
# tasks shorter than this on average gain nothing: two thread hand-offs per task cost more than
# the overlap saves (measured: 0.3 ms no-op tasks drained 2,417/s without, 1,740/s with)
MIN_AVERAGE = 0.001


class LeaseAhead:
    def __init__(self, worker: Any, queue: Any, lease_ahead_ms: float) -> None:
        self.worker, self.queue = worker, queue  # the Worker (worker.py imports this module) and its slot's client
        self.threshold = lease_ahead_ms / 1000
        self.hold = max(MIN_HOLD, HOLD_FACTOR * self.threshold)
        self.average: float | None = None  # of task durations, s; None until a task ran
        self.pending: Future[Lease | None] | None = None  # the one call in flight, if any
        self.running = threading.Event()  # set when the task the call in flight waits on has ended
        self.io = ThreadPoolExecutor(1, thread_name_prefix="slot-io")

    def before(self) -> None:
        """A task is about to run: with nothing in flight and short tasks, lease the next now."""
        if self.pending is None and self.wanted():
            self._pop_ahead()

    def after(self, lease: Lease, outcome: Outcome) -> Lease | None:
        """`lease`'s task ended: its outcome goes to Redis, and the lease to run next comes back
        (the one leased ahead, or what the fused ack-and-pop leased, or None)."""
        w = self.worker
        self.running.set()
        self.observe(outcome.duration)
        self.running = threading.Event()
        nxt = self.take()
        if nxt is None:  # nothing leased ahead: ack and pop in one call, as without
            following: Lease | None = w._report_outcome(lease, outcome)
            return following
        if self.wanted():  # run the next at once; ack this one and lease one more meanwhile
            self.pending = self.io.submit(self._held, lambda: w._report_outcome(lease, outcome), self.running)
        else:  # the tasks got long: ack this one alone, lease nothing more ahead
            w._report_outcome(lease, outcome, fuse=False)
        return nxt

    def wanted(self) -> bool:
        w = self.worker
        short = self.average is not None and MIN_AVERAGE <= self.average < self.threshold
        return short and w.enabled and not w.stopping.is_set()

    def observe(self, seconds: float) -> None:
        self.average = seconds if self.average is None else (1 - SMOOTHING) * self.average + SMOOTHING * seconds

    def _pop_ahead(self) -> None:
        """Lease the next task while the current one runs."""
        w = self.worker

        def pop() -> Lease | None:
            if w.stopping.is_set():
                return None
            lease: Lease | None = w._call(self.queue.pop, w.options.worker_id, w.lease_seconds, until_stop=True)
            if lease is not None:
                w.current[lease.token] = lease  # renewed by the heartbeat, released at a stop
            return lease

        self.pending = self.io.submit(self._held, pop, self.running)

    def _held(self, call: Callable[[], Lease | None], running: threading.Event) -> Lease | None:
        lease = call()
        if lease is not None and not running.wait(self.hold):
            self.worker._give_back(lease)  # the running task is a long one: not held behind it
            return None
        return lease

    def take(self) -> Lease | None:
        """The lease the call in flight brought (waits for it), None when there is none."""
        pending, self.pending = self.pending, None
        return pending.result() if pending is not None else None

    def close(self) -> None:
        """At the end of the slot: the last ack is sent, a task leased ahead given back."""
        self.running.set()
        try:
            lease = self.take()
            if lease is not None:
                self.worker._give_back(lease)
        finally:
            self.io.shutdown(wait=True)
