"""The rules a schedule row follows on its own, as field errors with the message the
user sees. Pure (no DB, no task discovery): Schedule.clean runs them, so the admin,
the form and `full_clean` on the ORM path agree. What a schedule refers to (its
task, its tenant) is checked by the form, in scheduling.reference_errors."""

from __future__ import annotations

from . import conf
from .engine import cron
from .engine.task import InvalidTask, encode_payload


def field_errors(schedule) -> dict[str, str]:
    """The rules a schedule row must follow on its own (Schedule.clean): no DB query, no task
    discovery, so the ORM path, the admin and the form share them."""
    errors: dict[str, str] = {}
    schedule.args = [] if schedule.args is None else schedule.args  # a cleared field means none
    schedule.kwargs = {} if schedule.kwargs is None else schedule.kwargs
    if schedule.cron and len(schedule.cron) <= cron.MAX_EXPRESSION:  # empty / too long: the field says so
        try:
            schedule.cron = cron.validate(schedule.cron)
        except cron.CronError as exc:
            errors["cron"] = str(exc)
    try:
        cron.zone(schedule.timezone or "")
    except cron.CronError as exc:
        errors["timezone"] = str(exc)
    if not isinstance(schedule.args, list):
        errors["args"] = 'Arguments must be a JSON array, e.g. [1, "two"].'
    if not isinstance(schedule.kwargs, dict):
        errors["kwargs"] = 'Keyword arguments must be a JSON object, e.g. {"key": "value"}.'
    if "args" not in errors and "kwargs" not in errors:
        try:
            encode_payload(schedule.args, schedule.kwargs, conf.engine_config().max_payload_bytes)
        except InvalidTask as exc:
            errors["args"] = str(exc)
    if schedule.start_at and schedule.end_at and schedule.end_at <= schedule.start_at:
        errors["end_at"] = "The end must be after the start."
    return errors
