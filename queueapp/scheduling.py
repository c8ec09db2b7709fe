"""Schedules between the Django DB and the engine: validation (as form errors),
the configuration synced to Redis, next fire times for display, and run now."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone as dj_timezone

from . import conf, registry, runtime
from .engine import cron
from .engine.scheduler import fire_now
from .engine.settings import ScheduleSpec
from .models import Tenant


def reference_errors(schedule) -> dict[str, str]:
    """What a schedule names must exist: a registered task (discovered from the apps' tasks
    modules) and, with REQUIRE_REGISTERED_TENANTS, its tenant (a DB query). ScheduleForm checks
    these; a row saved past them still fires nothing unknown (the worker refuses unknown tasks)."""
    errors: dict[str, str] = {}
    runtime.discover_tasks()
    if schedule.task and registry.lookup(schedule.task) is None:
        errors["task"] = f"{schedule.task!r} is not a registered task (declare it with @task in a tasks module)"
    if (
        conf.engine_config().require_registered_tenants
        and schedule.user
        and not Tenant.objects.filter(key=schedule.user).exists()
    ):
        errors["user"] = f"tenant {schedule.user!r} is not registered (REQUIRE_REGISTERED_TENANTS is on): add it first"
    return errors


def _ms(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value else None


def schedule_spec(schedule) -> ScheduleSpec:
    """The schedule as the scheduler fires it (synced to Redis by sync.py). ValueError for a row
    saved past validation whose arguments are not a JSON array and object."""
    if not isinstance(schedule.args or [], list) or not isinstance(schedule.kwargs or {}, dict):
        raise ValueError("arguments must be a JSON array and keyword arguments a JSON object")
    return ScheduleSpec(
        name=schedule.name,
        cron=schedule.cron,
        func=schedule.task,
        tz=schedule.timezone,
        args=tuple(schedule.args or ()),
        kwargs=dict(schedule.kwargs or {}),
        user=schedule.user,
        priority=int(schedule.priority),
        enabled=schedule.enabled,
        policy=schedule.missed_fire_policy,
        start_ms=_ms(schedule.start_at),
        end_ms=_ms(schedule.end_at),
    )


def preview(expr: str, tz: str, n: int = 5, after: datetime | None = None) -> list[datetime]:
    """The next `n` fire times in the schedule's time zone (CronError when invalid), without
    the repeats the fire keys drop (a daily time on the autumn DST day fires once)."""
    expr = cron.validate(expr)
    fires, keys = [], set()
    for fire in cron.next_fires(expr, tz, after or dj_timezone.now(), n + 2):
        key = cron.fire_key("preview", expr, tz, fire)
        if key not in keys:
            keys.add(key)
            fires.append(fire)
    return fires[:n]


def run_now(schedule) -> str:
    """Enqueue the schedule's task once, now; returns the task id (also stored as last_task_id)."""
    task_id = fire_now(conf.get_queue(), schedule_spec(schedule))
    type(schedule).objects.filter(pk=schedule.pk).update(last_task_id=task_id)
    return task_id


def record_fire(name: str, fired: int, task_id: str | None, next_ms: int) -> None:
    """Scheduler callback: mirror the runtime state into the DB row (update(): no sync signal)."""
    from .models import Schedule

    changes = {"next_fire_at": datetime.fromtimestamp(next_ms / 1000, tz=UTC)}
    if fired:
        changes.update(last_fired_at=dj_timezone.now(), last_task_id=task_id or "")
    Schedule.objects.filter(name=name).update(**changes)
