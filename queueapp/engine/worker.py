"""The worker: N threads each running the pop -> run -> ack_and_pop loop (or,
pooled, one dispatcher feeding N runner threads and an event loop for
coroutine tasks: dispatch.py, coroutines.py), a heartbeat thread (lease
renewal and the worker report), a maintenance thread (jittered reap and
promote ticks), and a graceful stop.

Stop: request_stop() makes the loops stop popping; running tasks finish
within `grace_seconds`; the leases of tasks still running then are released
so the tasks run again at once elsewhere (coroutines still running are cancelled
first, so their `finally` blocks run). A second stop signal releases them at once.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from .client import FairQueue
from .coroutines import AsyncExecutor
from .dispatch import STALE, Dispatcher, idle_pause
from .errors import InvalidTask, StaleLease, TaskNotFound
from .execution import Executor, Outcome, run_task
from .lease import Lease
from .lease_ahead import LeaseAhead
from .settings import WorkerReport, WorkerSettings, report_ttl_seconds

log = logging.getLogger("fairqueue.worker")
CONFIG_POLL = 2.0  # seconds between reads of this worker's stored configuration
RESYNC_RETRY = 30.0  # seconds between attempts to rebuild a lost configuration that failed


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    worker_id: str
    concurrency: int = 1
    burst: bool = False  # exit 0 once nothing is poppable, running, or due within a second
    grace_seconds: float = 30.0
    poll_interval: float = 0.2  # longest sleep between empty pops (starts at 5 ms, doubles)
    lease_seconds: float | None = None  # None: the queue's EngineConfig.lease_seconds
    pooled: bool = True  # concurrency > 1: one dispatcher batches acks and pops (dispatch.py)
    lease_ahead_ms: float = 20.0  # concurrency 1: lease the next task while tasks average below this (0: never)
    async_concurrency: int = 0  # coroutine tasks run at once on the event loop (0: in threads)
    promote_interval: float = 1.0
    reap_interval: float | None = None  # None: half a lease, at most 5 s

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= 256:
            raise ValueError("concurrency must be between 1 and 256")
        if not 0 <= self.async_concurrency <= 1000:
            raise ValueError("async concurrency must be between 0 and 1000")
        if not 0 <= self.lease_ahead_ms <= 60_000:
            raise ValueError("lease_ahead_ms must be between 0 and 60000")
        if self.grace_seconds < 0 or self.poll_interval <= 0:
            raise ValueError("grace_seconds must be >= 0 and poll_interval > 0")


def jittered(seconds: float) -> float:
    """seconds +/- 20 %, so N workers' ticks spread out instead of firing together."""
    return seconds * (0.8 + 0.4 * random.random())


class Worker:
    def __init__(
        self,
        queue: FairQueue,
        options: WorkerOptions,
        execute: Executor,
        before_task: Callable[[], None] | None = None,
        resync: Callable[[], bool] | None = None,
        aexecute: AsyncExecutor | None = None,
    ) -> None:
        self.queue = queue
        self.options = options
        self.execute = execute
        # awaits a coroutine task on the worker's event loop (with options.async_concurrency > 0)
        self.aexecute = aexecute if options.pooled else None
        self.before_task = before_task or (lambda: None)  # e.g. Django's close_old_connections, once per task
        # rebuilds Redis's copy of the configuration when Redis lost it (restarted empty) while running
        self.resync = resync
        self._resync_failing, self._next_resync = False, 0.0
        self.lease_seconds = options.lease_seconds or queue.config.lease_seconds
        self.reap_interval = options.reap_interval or min(5.0, self.lease_seconds / 2)
        self.current: dict[str, Lease] = {}  # token -> every lease this worker holds (queued here, running, acking)
        self._reporting: set[str] = set()  # tokens of leases whose outcome is on its way to Redis
        self.processed = 0
        self.failed = 0
        self._count_lock = threading.Lock()
        self.started_at = time.time()
        self.stopping = threading.Event()
        self.signals = 0  # stop signals received (counted by signal_stop)
        self.done = threading.Event()
        self.enabled = True  # False while the stored configuration is disabled
        self.poll_interval = options.poll_interval
        self._slots: dict[int, threading.Thread] = {}
        self._retired: set[int] = set()  # slots asked to exit after their current task
        self._dispatcher: Dispatcher | None = None  # the pooled mode, chosen at start

    # -- lifecycle --------------------------------------------------------
    def run(self) -> int:
        """Run until stopped (or, with burst, until idle). Returns the exit code: 0, or 1 after
        a second stop signal."""
        log.info(
            "worker %s starting: concurrency=%d pid=%d", self.options.worker_id, self.options.concurrency, os.getpid()
        )
        try:
            self._follow_config()
        except RedisError as exc:
            log.warning("could not read this worker's configuration (%s); starting with the defaults", exc)
        if not self._threads():
            self._resize(self.options.concurrency)
        for target, name in ((self._heartbeat_loop, "heartbeat"), (self._maintenance_loop, "maintenance")):
            threading.Thread(target=target, name=name, daemon=True).start()
        code = self._supervise()
        self._stop_coroutines()
        self._release_running()
        self.done.set()
        self._report("stopped")
        log.info("worker %s stopped: processed=%d failed=%d", self.options.worker_id, self.processed, self.failed)
        return code

    def _supervise(self) -> int:
        """Wait for the slots; act on stop signals here, in normal code (a signal handler
        only counts them: taking a lock inside one can deadlock)."""
        deadline = None
        while any(t.is_alive() for t in self._threads()):
            if self.signals >= 2:
                log.warning("second stop signal: giving running tasks back now")
                return 1
            if self.signals and deadline is None:
                self.request_stop()
            if self.stopping.is_set() and deadline is None:
                deadline = time.monotonic() + self.options.grace_seconds
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        return 0

    def signal_stop(self) -> None:
        """For signal handlers: the first call stops gracefully, the second at once."""
        self.signals += 1

    def request_stop(self) -> None:
        if not self.stopping.is_set():
            log.info(
                "worker %s stopping: finishing %d running task(s) within %.0f s",
                self.options.worker_id,
                len(self.current),
                self.options.grace_seconds,
            )
        self.stopping.set()

    # -- following the stored configuration ---------------------------------
    def _follow_config(self) -> None:
        """Apply this worker's stored configuration (enabled, concurrency, poll interval,
        lease): changes made in the DB reach a running worker within CONFIG_POLL seconds.
        Assignments need nothing here: every pop reads them in Redis."""
        cfg = self.queue.worker_config(self.options.worker_id) or WorkerSettings(self.options.worker_id)
        enabled = cfg.enabled
        if enabled != self.enabled:
            log.info(
                "worker %s %s by its configuration",
                self.options.worker_id,
                "enabled" if enabled else "disabled: it takes no tasks until enabled",
            )
        self.enabled = enabled
        self.poll_interval = cfg.poll_interval or self.options.poll_interval
        self.lease_seconds = cfg.lease_seconds or self.options.lease_seconds or self.queue.config.lease_seconds
        if not self.stopping.is_set() and not self.options.burst or not self._threads():
            self._resize(cfg.concurrency or self.options.concurrency)

    def _threads(self) -> list[threading.Thread]:
        return self._dispatcher.threads() if self._dispatcher else list(self._slots.values())

    def active_slots(self) -> int:
        return self._dispatcher.active() if self._dispatcher else len(self._active())

    def _active(self) -> list[int]:
        return sorted(s for s, t in list(self._slots.items()) if t.is_alive() and s not in self._retired)

    def _resize(self, concurrency: int) -> None:
        coroutines = self.aexecute is not None and self.options.async_concurrency > 0
        if self._dispatcher is None and not self._slots and (concurrency > 1 or coroutines) and self.options.pooled:
            self._dispatcher = Dispatcher(self)
            self._dispatcher.resize(concurrency)
            self._dispatcher.thread.start()
            return
        if self._dispatcher is not None:
            if self._dispatcher.capacity != concurrency:
                log.info("worker %s concurrency %d -> %d", self.options.worker_id, self.active_slots(), concurrency)
                self._dispatcher.resize(concurrency)
            return
        active = self._active()
        if len(active) == concurrency:
            return
        if active:
            log.info("worker %s concurrency %d -> %d", self.options.worker_id, len(active), concurrency)
        for slot in active[concurrency:]:
            self._retired.add(slot)
        next_slot = max(self._slots, default=-1) + 1
        for slot in range(next_slot, next_slot + concurrency - len(active)):
            thread = threading.Thread(target=self._slot_loop, args=(slot,), name=f"slot-{slot}", daemon=True)
            self._slots[slot] = thread
            thread.start()

    def _stop_coroutines(self) -> None:
        """Cancel the coroutines still running after the grace (their `finally` blocks run)
        and stop the event loop; their leases are released next."""
        runner = self._dispatcher.coroutines if self._dispatcher else None
        cancelled = runner.stop(wait=0.2 if self.signals >= 2 else 2.0) if runner is not None else 0
        if cancelled:
            log.warning("%d coroutine task(s) still running at the end of the grace cancelled", cancelled)

    def _release_running(self) -> None:
        for token, lease in list(self.current.items()):
            self.current.pop(token, None)
            try:  # through the shared client: a slot's own connection may have a call in flight (ahead.py)
                self.queue.release(lease)
                log.warning("task %s released: still running when the worker stopped", lease.id)
            except (StaleLease, TaskNotFound):
                pass
            except RedisError as exc:
                log.error("task %s could not be released (%s); its lease will expire", lease.id, exc)

    # -- the task loop ------------------------------------------------------
    def _slot_loop(self, slot: int) -> None:
        queue = self.queue.dedicated()
        idle, quiet = 0.005, False
        lease: Lease | None = None
        ahead = LeaseAhead(self, queue, self.options.lease_ahead_ms) if self._leases_ahead() else None
        while not self.stopping.is_set() and slot not in self._retired:
            if lease is None and not self.enabled:
                self.stopping.wait(self.poll_interval)
                continue
            if lease is None:
                lease = self._call(queue.pop, self.options.worker_id, self.lease_seconds, until_stop=True)
                if lease is None:
                    if self.options.burst and self._call(queue.idle, until_stop=True):
                        if quiet:  # idle twice with an empty pop between (see Dispatcher._loop)
                            break
                        quiet = True
                        continue
                    self.stopping.wait(idle_pause(idle, queue.held_due_in))
                    idle = min(idle * 2, self.poll_interval)
                    continue
                idle, quiet = 0.005, False
            self.current[lease.token] = lease
            self.prepare_task()
            if ahead is not None:
                ahead.before()
            outcome = run_task(self.execute, lease.task)
            lease = ahead.after(lease, outcome) if ahead is not None else self._report_outcome(lease, outcome)
        if ahead is not None:
            ahead.close()
        if lease is not None:  # popped as the stop began: give it back unrun
            self._give_back(lease)
        queue.close()

    def _leases_ahead(self) -> bool:
        """A lone slot thread leases ahead (lease_ahead.py); the pooled mode leases per free slot."""
        return self.options.lease_ahead_ms > 0 and self.options.concurrency == 1

    def _give_back(self, lease: Lease) -> None:
        """A lease whose task did not start goes back to its place (no delivery counted)."""
        self._call(self._quiet, lease.release)
        self.current.pop(lease.token, None)

    def prepare_task(self) -> None:
        """before_task (Django closes stale DB connections), never fatal to the slot: a slot
        thread that died here would hold its lease forever, renewed by the heartbeat."""
        try:
            self.before_task()
        except Exception:
            log.exception("before_task failed; running the task anyway")

    def _report_outcome(self, lease: Lease, outcome: Outcome, fuse: bool = True) -> Lease | None:
        """Record the outcome; returns the next lease when it could fuse ack and pop."""
        nxt = None
        if self.current.get(lease.token) is not lease:  # released by a forced stop meanwhile
            return None
        # the heartbeat may have sent this lease before the outcome ends it: it must not then
        # call it lost (a lease lost before the outcome shows here as StaleLease)
        self._reporting.add(lease.token)
        try:
            if outcome.ok:
                try:
                    nxt = self._call(
                        lease.ack_and_pop if fuse and not self.stopping.is_set() else lease.ack, outcome.result
                    )
                    result = "succeeded"
                except InvalidTask as exc:  # the return value is not JSON: found before any I/O
                    outcome = Outcome(False, error=exc, reason="invalid_result", retry=False, duration=outcome.duration)
            if not outcome.ok:
                fail = self._call(lease.fail, outcome.error, retry=outcome.retry, reason=outcome.reason)
                result = f"{fail.outcome}:{fail.reason}" if fail else f"failed:{outcome.reason}"
        except (StaleLease, TaskNotFound):
            result = STALE
        if nxt is not None:
            self.current[nxt.token] = nxt
        self._finished(lease, outcome, result)
        return nxt

    def _finished(self, lease: Lease, outcome: Outcome, result: str) -> None:
        """Count and log one task whose outcome is in Redis, and let go of its lease."""
        with self._count_lock:
            self.processed += 1
            self.failed += 0 if outcome.ok else 1
        self.current.pop(lease.token, None)
        self._reporting.discard(lease.token)  # after the pop: _report checks in the other order
        if not log.isEnabledFor(logging.INFO):  # --log-level WARNING: nothing to build
            return
        task = lease.task
        ms = round(outcome.duration * 1000, 1)
        log.info(
            "task=%s user=%s func=%s delivery=%d outcome=%s duration_ms=%.1f worker=%s",
            task.id,
            task.user,
            task.func,
            task.deliveries,
            result,
            ms,
            self.options.worker_id,
            # the same fields as keys of a JSON log line (FAIRQUEUE_LOG_FORMAT=json)
            extra={
                "task_id": task.id,
                "tenant": task.user,
                "func": task.func,
                "worker": self.options.worker_id,
                "delivery": task.deliveries,
                "outcome": result,
                "duration_ms": ms,
            },
        )

    @staticmethod
    def _quiet(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except (StaleLease, TaskNotFound):
            return None

    def _call(self, fn: Callable[..., Any], *args: Any, until_stop: bool = False, **kwargs: Any) -> Any:
        """Call Redis through outages: back off and retry until it answers (or, with until_stop,
        until the worker stops: then None)."""
        delay = 0.5
        while True:
            try:
                return fn(*args, **kwargs)
            except RedisError as exc:
                log.warning("redis unavailable (%s); retrying in %.1f s", exc, delay)
                if self.stopping.wait(delay) and until_stop:
                    return None
                delay = min(delay * 2, 10.0)

    # -- background ---------------------------------------------------------
    def _heartbeat_loop(self) -> None:
        interval = self.lease_seconds / 3
        while not self.done.is_set():
            self._report("stopping" if self.stopping.is_set() else "running" if self.enabled else "disabled")
            self.done.wait(jittered(interval))

    def _report(self, state: str) -> None:
        held = list(self.current.values())
        report = WorkerReport(
            self.options.worker_id,
            last_seen_ms=0,  # the script stamps Redis TIME
            observed_ms=0,
            state=state,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at_ms=int(self.started_at * 1000),
            concurrency=self.active_slots(),
            processed=self.processed,
            failed=self.failed,
            current=tuple(le.id for le in held),
            ttl_seconds=report_ttl_seconds(self.lease_seconds),
        )
        try:
            lost = self.queue.heartbeat(self.options.worker_id, held, report, lease_seconds=self.lease_seconds)
        except RedisError as exc:
            log.warning("heartbeat failed: %s", exc)
            return
        for task_id in self._really_lost(held, set(lost)):
            log.warning("task %s: lease lost (expired and handed on); its outcome will be discarded", task_id)

    def _resync_if_lost(self) -> None:
        """Redis lost its copy of the configuration (restarted empty) while this worker ran:
        rebuild it, warning once per loss; after a failed rebuild, try again every RESYNC_RETRY s."""
        if self.resync is None or time.monotonic() < self._next_resync or self.queue.is_synced():
            return
        if not self._resync_failing:
            log.warning("Redis has no configuration (restarted empty?): rebuilding it from the source")
        ok = self.resync()
        self._resync_failing = not ok
        self._next_resync = 0.0 if ok else time.monotonic() + RESYNC_RETRY

    def _really_lost(self, held: list[Lease], lost: set[str]) -> list[str]:
        """The leases the heartbeat found gone that this worker did not end itself meanwhile:
        a task acked (or failed, released) after the heartbeat read its lease is not lost.
        Checked in this order (reporting, then still current) because the slot adds the token
        to _reporting before its outcome call and discards it only after dropping the lease."""
        return [
            lease.id
            for lease in held
            if lease.id in lost and lease.token not in self._reporting and self.current.get(lease.token) is lease
        ]

    def _maintenance_loop(self) -> None:
        next_reap = time.monotonic() + jittered(self.reap_interval)
        next_config = time.monotonic() + jittered(CONFIG_POLL)
        while not self.done.is_set():
            try:
                if time.monotonic() >= next_config:
                    self._resync_if_lost()
                    self._follow_config()
                    next_config = time.monotonic() + jittered(CONFIG_POLL)
                while self.queue.promote() >= self.queue.config.promote_limit:
                    pass
                if time.monotonic() >= next_reap:
                    requeued, dead = self.queue.reap()
                    if requeued or dead:
                        log.warning("reaper: %d expired lease(s) requeued, %d dead-lettered", requeued, dead)
                    next_reap = time.monotonic() + jittered(self.reap_interval)
            except RedisError as exc:
                log.warning("maintenance tick failed: %s", exc)
            self.done.wait(jittered(self.options.promote_interval))
