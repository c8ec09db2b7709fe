"""Pure cron policy (croniter + zoneinfo): validation, next fire times in a time
zone, the idempotency key of a fire, and which fires are due at `now` under a
missed-fire policy. Takes `now`; never reads a clock.

Expressions have 5 fields (minute hour day month weekday) or 6 with seconds
last, as croniter reads them: "*/10 * * * * 30" fires at second 30 of every
tenth minute.

Daylight saving: croniter moves a fire that falls in the spring gap to the
first valid instant (02:30 -> 03:00 in Europe/Berlin), and returns a fixed
local time twice on the autumn change day (02:30+02:00 and 02:30+01:00).
Schedules whose hour field is fixed (daily or longer) are keyed by local date
and time, so they fire once per local date; hourly and finer ones are keyed by
the UTC instant, so both real 02:00 hours fire.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_EXPRESSION = 128
SKIP, RUN_ONCE = "skip", "run_once"
POLICIES = (SKIP, RUN_ONCE)


class CronError(ValueError):
    """An expression, time zone or policy that cannot be scheduled; the message is for the user."""


@cache
def _croniter_module() -> Any:
    """croniter (and dateutil under it), imported on first use: every process imports this
    module through the engine's settings, only schedule code ever calls it."""
    import croniter

    return croniter


def croniter(expr: str, start: datetime, **options: Any) -> Any:
    return _croniter_module().croniter(expr, start, **options)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"unknown time zone {name!r}: use an IANA name such as UTC or Europe/Berlin") from None


def validate(expr: str) -> str:
    """The normalised expression, or CronError saying what is wrong."""
    expr = " ".join(str(expr).split())
    if not expr:
        raise CronError("the cron expression is empty")
    if len(expr) > MAX_EXPRESSION:
        raise CronError(f"the cron expression is longer than {MAX_EXPRESSION} characters")
    fields = expr.split(" ")
    if len(fields) not in (5, 6):
        raise CronError(
            f"a cron expression has 5 fields (minute hour day month weekday) or 6 (plus seconds), not {len(fields)}"
        )
    cron = _croniter_module()
    try:
        if not cron.croniter.is_valid(expr, strict=True):
            raise CronError(f"{expr!r} is not a valid cron expression")
        croniter(expr, datetime(2000, 1, 1, tzinfo=UTC), max_years_between_matches=5).get_next(datetime)
    except (cron.CroniterBadCronError, cron.CroniterNotAlphaError) as exc:
        raise CronError(f"{expr!r} is not a valid cron expression: {exc}") from None
    except cron.CroniterBadDateError:
        raise CronError(f"{expr!r} never fires (no matching date within 5 years)") from None
    return expr


def next_fires(expr: str, tz: str, after: datetime, n: int = 5) -> list[datetime]:
    """The next `n` fire times strictly after `after`, as aware datetimes in `tz` (for display).

    Do arithmetic on them in UTC: Python compares and subtracts datetimes that share a
    tzinfo on their wall-clock values, so 02:30+02:00 and 02:30+01:00 would look equal.
    """
    it = croniter(expr, after.astimezone(zone(tz)), max_years_between_matches=5)
    return [it.get_next(datetime) for _ in range(n)]


def next_fire(expr: str, tz: str, after: datetime) -> datetime:
    """The next fire strictly after `after`, in UTC."""
    return next_fires(expr, tz, after, 1)[0].astimezone(UTC)


def prev_fire(expr: str, tz: str, at: datetime) -> datetime:
    """The latest fire at or before `at`, in UTC."""
    it = croniter(expr, (at + timedelta(seconds=1)).astimezone(zone(tz)), max_years_between_matches=5)
    fire: datetime = it.get_prev(datetime).astimezone(UTC)
    return fire if fire <= at else it.get_prev(datetime).astimezone(UTC)


def fixed_hour(expr: str) -> bool:
    """True when the hour field names hours (daily or longer): such fires are keyed by local time."""
    hour = expr.split(" ")[1]
    return "*" not in hour and "/" not in hour


def fire_key(name: str, expr: str, tz: str, due: datetime) -> str:
    """The idempotency key of one fire: a second fire with the same key is a duplicate."""
    if fixed_hour(expr):
        return f"{name}:{due.astimezone(zone(tz)).strftime('%Y-%m-%dT%H:%M:%S')}"  # local wall-clock time
    return f"{name}:{int(due.timestamp() * 1000)}"


def misfire_grace(expr: str, tz: str, around: datetime) -> timedelta:
    """How late a fire may still run as on time: half the period, between 1 s and 60 s."""
    first, second = (d.astimezone(UTC) for d in next_fires(expr, tz, around, 2))
    return min(max((second - first) / 2, timedelta(seconds=1)), timedelta(seconds=60))


@dataclass(frozen=True, slots=True)
class Due:
    fires: list[datetime]  # fire now, in order (at most one catch-up), UTC
    skipped: int  # missed fires not run
    next: datetime  # the next fire after these, UTC


def due_fires(expr: str, tz: str, next_due: datetime, now: datetime, policy: str = SKIP, limit: int = 100) -> Due:
    """Fires due at `now` for a schedule whose next fire was `next_due`.

    Fires late by at most misfire_grace run; older ones were missed (the scheduler
    was down, or the clock jumped): `skip` drops them, `run_once` runs only the
    latest of them. Either way a jump never fires a burst.
    """
    if policy not in POLICIES:
        raise CronError(f"missed-fire policy must be one of {', '.join(POLICIES)}, not {policy!r}")
    next_due, now = next_due.astimezone(UTC), now.astimezone(UTC)
    grace = misfire_grace(expr, tz, next_due - timedelta(microseconds=1))
    fires: list[datetime] = []
    missed: list[datetime] = []
    due = next_due
    for _ in range(limit):
        if due > now:
            break
        (fires if now - due <= grace else missed).append(due)
        due = next_fire(expr, tz, due)
    else:
        if due <= now:  # more than `limit` fires behind: look back from now instead of walking
            latest = prev_fire(expr, tz, now)
            if now - latest <= grace:
                fires = [latest]
                missed.append(prev_fire(expr, tz, latest - timedelta(milliseconds=1)))
            else:
                missed.append(latest)
            due = next_fire(expr, tz, now)
    catch_up = missed[-1:] if policy == RUN_ONCE and missed else []
    return Due(fires=catch_up + fires, skipped=len(missed) - len(catch_up), next=due)
