"""The pooled mode of a worker with many slots: one dispatcher thread talks to
Redis for all of them, runner threads only run tasks.

Each round the dispatcher acks every task finished since its last call and
leases exactly as many tasks as slots are free, in one ack_and_pop_many call:
the pops rotate over tenants (fair order), each task has its own lease, and
nothing is leased to wait for a slot (so no task sits leased while another
worker could run it). The dispatcher wakes as soon as a runner finishes, so a
result is in Redis one round trip after its task returned. Failures, rarer
and each with its own retry decision, go to Redis from the runner's thread.

With a coroutine runner (coroutines.py) the same call fills two kinds of slot:
threads for sync tasks, the event loop for async ones, each leased only when
its kind has room (lib/pop no_room). A coroutine's failure is reported from
the dispatcher's thread: nothing blocking runs on the loop.
"""

from __future__ import annotations

import logging
import queue as queues
import threading
import time
from typing import Any

from .coroutines import CoroutineRunner
from .errors import InvalidTask, StaleLease, TaskNotFound
from .execution import Outcome, run_task
from .lease import Ack, Lease

log = logging.getLogger("fairqueue.worker")
IDLE_FIRST = 0.005  # first pause after an empty round (doubles up to the poll interval)
MIN_PAUSE = 0.001


def idle_pause(idle: float, held_due_in: float | None) -> float:
    """How long an idle worker sleeps: its backoff, but never past the end of a tenant's
    hold (lib/limits): holds are let go by pops, so a worker that slept on would cost a
    rate-limited tenant alone part of its rate."""
    return idle if held_due_in is None else max(MIN_PAUSE, min(idle, held_due_in))


STALE = "stale (lease lost: the task was handed to another worker)"
# ack statuses that are a success; "deferred": its shard is unreachable, the ack goes with the next call there
ACKED = {"ok": "succeeded", "deferred": "succeeded (ack deferred: its shard is unreachable)"}

TO_FAIL = "fail"  # a coroutine's failure: the dispatcher reports it
type Finished = tuple[Lease, Outcome, Ack | str | None]  # None: the runner reported it (a failure)


class Dispatcher:
    def __init__(self, worker: Any) -> None:
        self.worker = worker  # the Worker (worker.py imports this module, hence Any)
        self.work: queues.SimpleQueue[Lease | None] = queues.SimpleQueue()  # None: a runner exits
        self.finished: queues.SimpleQueue[Finished] = queues.SimpleQueue()
        self.capacity = 0
        self.runners: dict[int, threading.Thread] = {}
        self.retiring = 0  # runners asked to exit (a None on the way to them)
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, name="dispatcher", daemon=True)
        self.coroutines: CoroutineRunner | None = None
        self.coroutine_capacity = worker.options.async_concurrency if worker.aexecute else 0
        if self.coroutine_capacity:
            self.coroutines = CoroutineRunner(worker.aexecute, self._coroutine_done)
        self.on_loop: set[str] = set()  # tokens of leases given to the loop (the dispatcher's own)
        # after a call that offered coroutine slots and got no coroutine task, offer none for a
        # while (5 ms, doubling up to the poll interval): with the threads full, looking for one
        # pops and puts back each tenant's next task (lib/pop no_room), on every round otherwise
        self.loop_quiet_until, self.loop_quiet = 0.0, IDLE_FIRST
        self.failing: list[Finished] = []  # coroutine failures to report

    # -- runners --------------------------------------------------------------
    def resize(self, concurrency: int) -> None:
        with self.lock:
            change = concurrency - self.active()
            self.retiring += max(0, -change)
        for _ in range(-change):
            self.work.put(None)
        start = max(self.runners, default=-1) + 1
        for slot in range(start, start + max(0, change)):
            thread = threading.Thread(target=self._run_tasks, name=f"slot-{slot}", daemon=True)
            self.runners[slot] = thread
            thread.start()
        self.capacity = concurrency

    def active(self) -> int:
        """Runners alive and not asked to exit."""
        return max(0, sum(t.is_alive() for t in list(self.runners.values())) - self.retiring)

    def threads(self) -> list[threading.Thread]:
        return [self.thread, *self.runners.values()]

    def _run_tasks(self) -> None:
        w = self.worker
        while (lease := self.work.get()) is not None:
            if w.stopping.is_set() or w.current.get(lease.token) is not lease:
                self._give_back(lease)  # leased as the stop began: it runs again elsewhere
                continue
            w.prepare_task()
            outcome = run_task(w.execute, lease.task)
            if w.current.get(lease.token) is not lease:  # released by a forced stop meanwhile
                continue
            w._reporting.add(lease.token)
            ack = None
            if outcome.ok:
                try:
                    ack = Ack.of(lease, outcome.result)
                except InvalidTask as exc:  # the return value is not JSON
                    outcome = Outcome(False, error=exc, reason="invalid_result", retry=False, duration=outcome.duration)
            if ack is None:
                w._finished(lease, outcome, self._fail(lease, outcome))
            self.finished.put((lease, outcome, ack))
        with self.lock:
            self.retiring = max(0, self.retiring - 1)

    def _fail(self, lease: Lease, outcome: Outcome) -> str:
        w = self.worker
        try:
            fail = w._call(w.queue.fail, lease, outcome.error, retry=outcome.retry, reason=outcome.reason)
        except (StaleLease, TaskNotFound):
            return STALE
        return f"{fail.outcome}:{fail.reason}" if fail else f"failed:{outcome.reason}"

    def _coroutine_done(self, lease: Lease, outcome: Outcome) -> None:
        """On the loop: hand the outcome to the dispatcher (never blocks)."""
        w = self.worker
        if w.current.get(lease.token) is not lease:  # released by a forced stop meanwhile
            return
        w._reporting.add(lease.token)
        ack: Ack | str = TO_FAIL
        if outcome.ok:
            try:
                ack = Ack.of(lease, outcome.result)
            except InvalidTask as exc:
                outcome = Outcome(False, error=exc, reason="invalid_result", retry=False, duration=outcome.duration)
        self.finished.put((lease, outcome, ack))

    def _report_failures(self) -> None:
        failing, self.failing = self.failing, []
        for lease, outcome, _ in failing:
            self.worker._finished(lease, outcome, self._fail(lease, outcome))

    def _free(self, acks: list[Finished]) -> tuple[int, int]:
        """Free thread slots and free coroutine slots, counting those of `acks` (acked in
        this call) as free."""
        w = self.worker
        current = w.current
        self.on_loop = {t for t in self.on_loop if t in current}
        on_loop = len(self.on_loop)
        acked_loop = sum(1 for lease, _, _ in acks if lease.token in self.on_loop)
        threads = self.capacity - (len(current) - on_loop) + (len(acks) - acked_loop)
        return max(0, threads), max(0, self.coroutine_capacity - on_loop + acked_loop)

    def _give_back(self, lease: Lease) -> None:
        w = self.worker
        if w.current.pop(lease.token, None) is not None:
            w._call(w._quiet, w.queue.release, lease)
        self.finished.put((lease, Outcome(False), None))  # wakes the dispatcher: a slot is free

    # -- the dispatcher ---------------------------------------------------------
    def _loop(self) -> None:
        w = self.worker
        queue = w.queue.dedicated()
        acks: list[Finished] = []
        idle, quiet = IDLE_FIRST, False
        try:
            while True:
                self._collect(acks, wait=0)
                if self.failing:
                    self._report_failures()
                stopping = w.stopping.is_set()
                # the slots of the tasks acked in this call are free too
                free, free_loop = (0, 0) if stopping or not w.enabled else self._free(acks)
                held_back = free_loop > 0 and time.monotonic() < self.loop_quiet_until
                if held_back:
                    free_loop = 0
                if stopping and not acks and not w.current:
                    return
                if not acks and not free and not free_loop:  # every slot busy: wait for one to finish
                    self._collect(acks, wait=0.05 if self.coroutines is None else min(0.05, self.loop_quiet))
                    continue
                exchange = w._call(
                    queue.ack_and_pop_many,
                    [a for _, _, a in acks if isinstance(a, Ack)],
                    w.options.worker_id,
                    free,
                    w.lease_seconds,
                    free_loop if self.coroutines else None,
                    until_stop=not acks,
                )
                if exchange is None:  # stopped while Redis was unreachable
                    continue
                statuses = iter(exchange.acked)
                for lease, outcome, _ in acks:
                    w._finished(lease, outcome, ACKED.get(next(statuses), STALE))
                acks = []
                if free_loop:
                    self._loop_found(any(le.task.coroutine for le in exchange.leases))
                for lease in exchange.leases:
                    w.current[lease.token] = lease
                    if self.coroutines is not None and lease.task.coroutine:
                        if w.stopping.is_set():  # leased as the stop began: it runs again elsewhere
                            self._give_back(lease)
                            continue
                        self.on_loop.add(lease.token)
                        self.coroutines.submit(lease)
                    else:
                        self.work.put(lease)
                if exchange.leases or not (free or free_loop):
                    idle, quiet = IDLE_FIRST, False
                    continue
                if held_back:  # free threads found nothing: offer the coroutine slots at once
                    self.loop_quiet_until = 0.0  # (and never call a burst idle on half an offer)
                    continue
                if w.options.burst and not w.current and w._call(queue.idle, until_stop=True):
                    # idle twice with an empty pop between: a retry promoted into a lane just
                    # before the first check (idle() does not look at lanes) is popped, not left
                    if quiet:
                        w.request_stop()
                        continue
                    quiet = True
                    continue
                self._collect(acks, wait=idle_pause(idle, exchange.held_due_in))
                idle = min(idle * 2, w.poll_interval)
        finally:
            for _ in self.runners:
                self.work.put(None)
            queue.close()

    def _loop_found(self, found: bool) -> None:
        if found:
            self.loop_quiet = IDLE_FIRST
            return
        self.loop_quiet_until = time.monotonic() + self.loop_quiet
        self.loop_quiet = min(self.loop_quiet * 2, self.worker.poll_interval)

    def _collect(self, acks: list[Finished], wait: float) -> None:
        """Move finished tasks that still need an ack into `acks`; wait up to `wait` s for the first."""
        try:
            item = self.finished.get(timeout=wait) if wait > 0 else self.finished.get_nowait()
        except queues.Empty:
            return
        while True:
            if item[2] is TO_FAIL:
                self.failing.append(item)
            elif item[2] is not None:
                acks.append(item)
            try:
                item = self.finished.get_nowait()
            except queues.Empty:
                return
