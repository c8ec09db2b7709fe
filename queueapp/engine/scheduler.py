"""The cron scheduler: any number may run; one leads.

Leadership is redis-py's Lock (SET NX PX with a token; extend and release check
the token) plus a local monotonic deadline: a leader that could not renew
before `lease - margin` stops firing even if Redis still shows its key. Each
fire goes through fire_schedule.lua with an idempotency key per (schedule,
due time), so even two leaders enqueue one task per due time. Due-ness is
decided on Redis TIME, the clock every scheduler shares.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from redis.exceptions import LockError, RedisError
from redis.lock import Lock

from . import cron
from .client import FairQueue
from .errors import InvalidTask
from .settings import ScheduleSpec

log = logging.getLogger("fairqueue.scheduler")
MIN_FIRE_KEY_TTL_MS = 7_200_000  # fire keys outlive the autumn DST repeat (one hour later) with room


def dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


OnFire = Callable[[str, int, str | None, int], None]  # name, fired count, last task id, next fire ms


class Scheduler:
    def __init__(
        self, queue: FairQueue, *, tick: float = 0.25, lease_seconds: float = 5.0, on_fire: OnFire | None = None
    ) -> None:
        self.queue = queue
        self.tick_seconds = tick
        self.lease_seconds = lease_seconds
        self._on_fire = on_fire or (lambda *args: None)
        self.lock = Lock(queue.redis, queue.config.keys.scheduler_leader(), timeout=lease_seconds, thread_local=False)
        self.leading_until = 0.0  # monotonic deadline of this process's leadership
        self.specs: dict[str, ScheduleSpec] = {}
        self.next_ms: dict[str, int] = {}
        self.version: str | None = "never loaded"
        self.broken: dict[str, str] = {}  # schedule -> why it cannot fire (logged once per load)
        self.signals = 0
        self.stopping = threading.Event()

    def on_fire(self, name: str, fired: int, task_id: str | None, next_ms: int) -> None:
        try:
            self._on_fire(name, fired, task_id, next_ms)
        except Exception:  # bookkeeping (e.g. the DB row) must never stop the firing
            log.exception("schedule %s: recording the fire failed", name)

    # -- leadership -------------------------------------------------------------------
    @property
    def leading(self) -> bool:
        return time.monotonic() < self.leading_until

    def _lead(self) -> bool:
        """Renew (or try to take) the leader lease; True while this process may fire."""
        started = time.monotonic()
        try:
            if self.lock.local.token is not None:
                self.lock.extend(self.lease_seconds, replace_ttl=True)
            elif self.lock.acquire(blocking=False):
                log.info("scheduler: now the leader")
                self.version = "reload on taking the lead"
            else:
                return False
        except LockError:
            log.warning("scheduler: lost the leader lease")
            self.lock.local.token = None
            self.leading_until = 0.0
            return False
        except RedisError as exc:
            log.warning("scheduler: cannot renew the leader lease (%s)", exc)
            return self.leading
        self.leading_until = started + self.lease_seconds - min(1.0, self.lease_seconds / 3)
        return True

    def release(self) -> None:
        try:
            if self.lock.local.token is not None:
                self.lock.release()
                log.info("scheduler: released the leader lease")
        except (LockError, RedisError):
            pass
        self.leading_until = 0.0

    # -- ticks ------------------------------------------------------------------------
    def run(self) -> int:
        log.info("scheduler starting (tick %.2f s, lease %.0f s)", self.tick_seconds, self.lease_seconds)
        try:
            while not self.signals and not self.stopping.is_set():
                try:
                    self.tick()
                except RedisError as exc:
                    log.warning("scheduler tick failed: %s", exc)
                time.sleep(self.tick_seconds)
        finally:
            self.release()
        log.info("scheduler stopped")
        return 0

    def signal_stop(self) -> None:
        self.signals += 1

    def tick(self) -> int:
        """One pass: returns the number of tasks enqueued."""
        if not self._lead():
            return 0
        version = self.queue.schedules_version()
        if version != self.version:
            self._load(version)
        now_ms = self.queue.redis_time_ms()
        fired = 0
        for spec in list(self.specs.values()):
            if not spec.enabled:
                continue
            try:
                fired += self._fire_due(spec, now_ms)
            except RedisError:
                raise
            except Exception as exc:  # one schedule's failure must never stop the others
                self.broken[spec.name] = f"{type(exc).__name__}: {exc}"
                self.specs.pop(spec.name, None)
                log.exception("schedule %s failed and is skipped until it changes", spec.name)
        return fired

    def _load(self, version: str | None) -> None:
        self.version, rows = self.queue.schedules()
        self.specs, self.next_ms = {}, {}
        self.broken = {}
        for name, (config, state) in rows.items():
            try:
                spec = ScheduleSpec.from_fields(name, config)
                cron.validate(spec.cron)
                cron.zone(spec.tz)
            except (KeyError, ValueError, TypeError, AttributeError) as exc:  # CronError is a ValueError
                self.broken[name] = str(exc) or type(exc).__name__
                log.error("schedule %s is not usable and is skipped (the others fire): %s", name, self.broken[name])
                continue
            self.specs[name] = spec
            if state.get("next_ms"):
                self.next_ms[name] = int(state["next_ms"])
        log.info("scheduler: %d schedule(s) loaded", len(self.specs))

    def _first_fire(self, spec: ScheduleSpec, now_ms: int) -> int:
        start = max(now_ms, spec.start_ms or 0)
        return ms(cron.next_fire(spec.cron, spec.tz, dt(start)))

    def _fire_due(self, spec: ScheduleSpec, now_ms: int) -> int:
        try:
            if spec.name not in self.next_ms:
                self.next_ms[spec.name] = self._first_fire(spec, now_ms)
                self.queue.fire_schedule(spec.name, [], self.next_ms[spec.name])
                self.on_fire(spec.name, 0, None, self.next_ms[spec.name])
            next_ms = self.next_ms[spec.name]
            if next_ms > now_ms or (spec.end_ms and next_ms > spec.end_ms):
                return 0
            due = cron.due_fires(spec.cron, spec.tz, dt(next_ms), dt(now_ms), spec.policy)
        except cron.CronError as exc:
            log.error("schedule %s cannot fire: %s", spec.name, exc)
            self.broken[spec.name] = str(exc)
            self.specs.pop(spec.name, None)
            return 0
        fires = [
            (key, ms(at), spec.task("cron:" + key))
            for at in due.fires
            if not spec.end_ms or ms(at) <= spec.end_ms
            for key in [cron.fire_key(spec.name, spec.cron, spec.tz, at)]
        ]
        if not self.leading:  # the lease ran out while we computed: a new leader may be firing
            return 0
        try:
            fired, duplicates = self.queue.fire_schedule(
                spec.name, fires, ms(due.next), due.skipped, key_ttl_ms=self._key_ttl_ms(spec, due)
            )
        except InvalidTask as exc:
            log.error("%s", exc)
            fired = 0
        self.next_ms[spec.name] = ms(due.next)
        if due.skipped:
            log.warning("schedule %s: %d missed fire(s) skipped (policy %s)", spec.name, due.skipped, spec.policy)
        if fired:
            # a duplicate fire key enqueues nothing: name every task of this batch, in fire order
            log.info("schedule %s: fired %d task(s) (%s)", spec.name, fired, ", ".join(f[2].id for f in fires))
            self.on_fire(spec.name, fired, fires[-1][2].id, ms(due.next))
        return fired

    @staticmethod
    def _key_ttl_ms(spec: ScheduleSpec, due: cron.Due) -> int:
        """Fire keys outlive any chance of a repeat: two periods, and at least two hours (the
        autumn DST repeat of a daily fire comes one hour later)."""
        period = ms(due.next) - (ms(due.fires[-1]) if due.fires else ms(due.next))
        return max(MIN_FIRE_KEY_TTL_MS, 2 * period)


def fire_now(queue: FairQueue, spec: ScheduleSpec) -> str:
    """Run a schedule's task once, now ("run now": a fresh task id, not a fire key)."""
    task = spec.task()
    queue.fire_schedule(spec.name, [(f"{spec.name}:now:{task.id}", queue.redis_time_ms(), task)], None)
    return task.id
