"""Pure cron policy (queueapp.engine.cron): DST walks in Europe/Berlin, 6-field expressions, validation
messages, missed-fire policies and fire keys. Fixed dates only: no Redis, no DB, never the clock."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from queueapp.engine import cron

BERLIN = "Europe/Berlin"
S, M, D = timedelta(seconds=1), timedelta(minutes=1), timedelta(days=1)
T = datetime(2026, 1, 1, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(BERLIN))


def simulate(expr: str, tz: str, start: datetime, end: datetime, name: str = "job"):
    """A scheduler that is never down: ticks 1 s after each due time; keys are deduped like SET NX.
    Returns (every fire due_fires returned, {key: first fire with that key}) for fires before `end`."""
    due = cron.next_fire(expr, tz, start)
    fires, keys = [], {}
    while due < end:
        step = cron.due_fires(expr, tz, due, due + S)
        assert step.skipped == 0 and step.next > due
        for at in step.fires:
            fires.append(at)
            keys.setdefault(cron.fire_key(name, expr, tz, at), at)
        due = step.next
    return fires, keys


def by_local_date(fires, tz: str) -> dict[str, int]:
    return dict(Counter(f.astimezone(ZoneInfo(tz)).date().isoformat() for f in fires))


# -- daylight saving, walked day by day -------------------------------------------------
@pytest.mark.parametrize(
    ("first_day", "fires", "fire_keys"),
    [
        (
            (2026, 3, 28),
            [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30), utc(2026, 3, 31, 0, 30)],
            {
                "job:2026-03-28T02:30:00": utc(2026, 3, 28, 1, 30),
                "job:2026-03-29T03:00:00": utc(2026, 3, 29, 1, 0),
                "job:2026-03-30T02:30:00": utc(2026, 3, 30, 0, 30),
                "job:2026-03-31T02:30:00": utc(2026, 3, 31, 0, 30),
            },
        ),
        (
            (2026, 10, 24),
            [
                utc(2026, 10, 24, 0, 30),
                utc(2026, 10, 25, 0, 30),
                utc(2026, 10, 25, 1, 30),
                utc(2026, 10, 26, 1, 30),
                utc(2026, 10, 27, 1, 30),
            ],
            {
                "job:2026-10-24T02:30:00": utc(2026, 10, 24, 0, 30),
                "job:2026-10-25T02:30:00": utc(2026, 10, 25, 0, 30),
                "job:2026-10-26T02:30:00": utc(2026, 10, 26, 1, 30),
                "job:2026-10-27T02:30:00": utc(2026, 10, 27, 1, 30),
            },
        ),
    ],
    ids=["spring", "autumn"],
)
def test_daily_schedule_fires_once_per_local_date_across_dst(first_day, fires, fire_keys):
    start = local(*first_day) - S
    got_fires, got_keys = simulate("30 2 * * *", BERLIN, start, start + 4 * D + S)
    assert got_fires == fires
    assert got_keys == fire_keys
    assert list(by_local_date(got_keys.values(), BERLIN).values()) == [1, 1, 1, 1]


def test_croniter_moves_the_spring_gap_and_repeats_the_autumn_hour():
    spring = cron.next_fires("30 2 * * *", BERLIN, local(2026, 3, 28, 12), 2)
    autumn = cron.next_fires("30 2 * * *", BERLIN, local(2026, 10, 24, 12), 3)
    assert [d.isoformat() for d in spring] == ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]
    assert [d.isoformat() for d in autumn] == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-26T02:30:00+01:00",
    ]
    assert cron.fire_key("job", "30 2 * * *", BERLIN, autumn[0]) == cron.fire_key(
        "job", "30 2 * * *", BERLIN, autumn[1]
    )


HOURS = [f"{h:02d}" for h in range(24)]


@pytest.mark.parametrize(
    ("first_day", "per_day", "change_day", "hours"),
    [
        (
            (2026, 3, 28),
            [24, 23, 24, 24],
            "2026-03-29",
            [f"{h}+0100" for h in HOURS[:2]] + [f"{h}+0200" for h in HOURS[3:]],
        ),
        (
            (2026, 10, 24),
            [24, 25, 24, 24],
            "2026-10-25",
            [f"{h}+0200" for h in HOURS[:3]] + [f"{h}+0100" for h in HOURS[2:]],
        ),
    ],
    ids=["spring", "autumn"],
)
def test_hourly_schedule_fires_every_real_hour_across_dst(first_day, per_day, change_day, hours):
    start = local(*first_day) - S
    fires, keys = simulate("0 * * * *", BERLIN, start, start + 4 * D + S)
    assert len(keys) == len(fires) == sum(per_day)  # hourly fires are keyed by instant: no two collide
    assert list(by_local_date(keys.values(), BERLIN).values()) == per_day
    on_change_day = [f.astimezone(ZoneInfo(BERLIN)) for f in keys.values()]
    assert [f.strftime("%H%z") for f in on_change_day if f.date().isoformat() == change_day] == hours
    assert all(b - a == timedelta(hours=1) for a, b in zip(fires, fires[1:], strict=False))


@pytest.mark.parametrize("first_day", [(2026, 3, 28), (2026, 10, 24)], ids=["spring", "autumn"])
def test_hourly_schedule_in_utc_is_24_a_day(first_day):
    start = utc(*first_day) - S
    fires, keys = simulate("0 * * * *", "UTC", start, start + 4 * D + S)
    assert by_local_date(keys.values(), "UTC") == {(utc(*first_day) + n * D).date().isoformat(): 24 for n in range(4)}
    assert len(fires) == 96


# -- 6 fields: seconds last --------------------------------------------------------------
@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("* * * * * */5", utc(2026, 1, 1, 0, 0, 2), [utc(2026, 1, 1, 0, 0, s) for s in (5, 10, 15, 20)]),
        (
            "* * * * * *",
            utc(2026, 1, 1, 0, 0, 59),
            [utc(2026, 1, 1, 0, 1, 0), utc(2026, 1, 1, 0, 1, 1), utc(2026, 1, 1, 0, 1, 2), utc(2026, 1, 1, 0, 1, 3)],
        ),
        ("*/10 * * * * 30", T, [utc(2026, 1, 1, 0, m, 30) for m in (0, 10, 20, 30)]),
    ],
)
def test_six_field_expressions_put_seconds_last(expr, after, expected):
    assert cron.validate(expr) == expr
    assert [d.astimezone(UTC) for d in cron.next_fires(expr, "UTC", after, 4)] == expected


def test_every_five_seconds_walked_for_a_minute():
    fires, keys = simulate("* * * * * */5", "UTC", T - S, T + M)
    assert fires == [T + n * 5 * S for n in range(12)]
    assert list(keys) == [f"job:{1767225600000 + n * 5000}" for n in range(12)]


# -- validation ---------------------------------------------------------------------------
FIELDS = "a cron expression has 5 fields (minute hour day month weekday) or 6 (plus seconds), not"


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("", "the cron expression is empty"),
        (" \t\n ", "the cron expression is empty"),
        ("* * *", f"{FIELDS} 3"),
        ("* * * * * * *", f"{FIELDS} 7"),
        ("@daily", f"{FIELDS} 1"),
        ("61 * * * *", "'61 * * * *' is not a valid cron expression"),
        ("0 24 * * *", "'0 24 * * *' is not a valid cron expression"),
        ("* * * * * 60", "'* * * * * 60' is not a valid cron expression"),
        ("0 0 31 2 *", "'0 0 31 2 *' is not a valid cron expression"),  # never fires: rejected by strict validity
        ("0 0 30 2 *", "'0 0 30 2 *' is not a valid cron expression"),
        ("0 " * 70, "the cron expression is longer than 128 characters"),
        ("é ü ß ö ä", "'é ü ß ö ä' is not a valid cron expression"),
        ("💥 * * * *", "'💥 * * * *' is not a valid cron expression"),
        ("a b c d e", "'a b c d e' is not a valid cron expression"),
    ],
)
def test_validate_rejects_with_the_message_users_see(expr, message):
    with pytest.raises(cron.CronError) as caught:
        cron.validate(expr)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("expr", "normalised"),
    [
        ("0  3 * * *", "0 3 * * *"),
        ("\t*/5 *  * * *\n", "*/5 * * * *"),
        ("0" + " " * 200 + "3 * * *", "0 3 * * *"),  # the length limit applies after normalising
        ("0 0 29 2 *", "0 0 29 2 *"),  # leap days fire within 5 years
        ("0 9-17 * * MON-FRI", "0 9-17 * * MON-FRI"),
    ],
)
def test_validate_normalises_whitespace(expr, normalised):
    assert cron.validate(expr) == normalised


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../../etc/passwd", "Europe/Berlin "])
def test_zone_rejects_unknown_names_naming_them(name):
    with pytest.raises(cron.CronError, match=f"unknown time zone {name!r}: use an IANA name"):
        cron.zone(name)


def test_zone_accepts_iana_names():
    assert str(cron.zone("Europe/Berlin")) == "Europe/Berlin" and str(cron.zone("UTC")) == "UTC"


# -- missed fires ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expr", "grace"),
    [
        ("* * * * * *", S),
        ("* * * * * */5", 2.5 * S),
        ("* * * * *", 30 * S),
        ("*/5 * * * *", 60 * S),
        ("0 * * * *", 60 * S),
        ("0 3 * * *", 60 * S),
    ],
)
def test_misfire_grace_is_half_the_period_within_1_and_60_seconds(expr, grace):
    assert cron.misfire_grace(expr, "UTC", T) == grace


@pytest.mark.parametrize(
    ("late", "policy", "fires", "skipped", "next_"),
    [
        (0 * S, "skip", [T], 0, T + M),
        (30 * S, "skip", [T], 0, T + M),  # the grace is inclusive
        (31 * S, "skip", [], 1, T + M),
        (31 * S, "run_once", [T], 0, T + M),
        (3 * M + 10 * S, "skip", [T + 3 * M], 3, T + 4 * M),
        (3 * M + 10 * S, "run_once", [T + 2 * M, T + 3 * M], 2, T + 4 * M),  # the latest missed, then on time
        (3 * M + 40 * S, "run_once", [T + 3 * M], 3, T + 4 * M),
        (-5 * M, "skip", [], 0, T),  # clock jumped back: nothing yet
        (-5 * M, "run_once", [], 0, T),
        (-1 * S, "run_once", [], 0, T),
        (-S / 2, "skip", [], 0, T),  # never early
    ],
)
def test_due_fires_every_minute(late, policy, fires, skipped, next_):
    assert cron.due_fires("* * * * *", "UTC", T, T + late, policy) == cron.Due(fires, skipped, next_)


@pytest.mark.parametrize(
    ("late", "policy", "fires", "skipped"),
    [
        (59 * S, "skip", [T], 0),
        (61 * S, "skip", [], 1),
        (61 * S, "run_once", [T], 0),
    ],
)
def test_due_fires_daily(late, policy, fires, skipped):
    assert cron.due_fires("0 0 * * *", "UTC", T, T + late, policy) == cron.Due(fires, skipped, T + D)


@pytest.mark.parametrize(("policy", "most"), [("skip", 0), ("run_once", 1)])
def test_a_three_day_clock_jump_fires_no_burst(policy, most):
    now = T + 3 * D + 40 * S
    due = cron.due_fires("* * * * *", "UTC", T, now, policy)
    assert len(due.fires) == most and all(f <= now for f in due.fires)
    assert now < due.next <= now + M and due.skipped > 0


def test_far_behind_stops_after_limit(monkeypatch):
    calls = []
    real = cron.next_fire
    monkeypatch.setattr(cron, "next_fire", lambda *a: calls.append(a) or real(*a))
    now = T + 3650 * D + S / 2
    due = cron.due_fires("* * * * * *", "UTC", T, now, "run_once", limit=50)
    assert len(calls) <= 52
    assert (due.fires, due.next) == ([now - 3 * S / 2, now - S / 2], now + S / 2)


@pytest.mark.parametrize(
    ("late", "policy", "fires"),
    [
        (3 * D + 40 * S, "run_once", [T + 3 * D]),  # the catch-up is the latest missed fire
        (3 * D + 40 * S, "skip", []),
        (3 * D + 10 * S, "skip", [T + 3 * D]),  # on time: kept
        (3 * D + 10 * S, "run_once", [T + 3 * D - M, T + 3 * D]),
    ],
    ids=["run-once-latest", "skip-all", "skip-keeps-on-time", "run-once-and-on-time"],
)
def test_far_behind_runs_the_latest_missed_and_the_on_time_fire(late, policy, fires):
    due = cron.due_fires("* * * * *", "UTC", T, T + late, policy)
    assert (due.fires, due.next) == (fires, T + 3 * D + M)
    assert due.skipped >= 100  # counted up to `limit`, then the look-back from now


@pytest.mark.parametrize(
    ("policy", "fires", "skipped"),
    [
        ("skip", [T + 99 * M], 99),
        ("run_once", [T + 98 * M, T + 99 * M], 98),
    ],
)
def test_exactly_limit_behind_never_fires_the_future(policy, fires, skipped):
    assert cron.due_fires("* * * * *", "UTC", T, T + 99 * M + 10 * S, policy) == cron.Due(fires, skipped, T + 100 * M)


def test_unknown_policy_is_a_cron_error():
    with pytest.raises(cron.CronError, match="missed-fire policy must be one of skip, run_once, not 'often'"):
        cron.due_fires("* * * * *", "UTC", T, T, "often")


# -- fire keys ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expr", "fixed"),
    [
        ("30 2 * * *", True),
        ("0 3,15 * * *", True),
        ("0 9-17 * * 1-5", True),
        ("0 * * * *", False),
        ("*/5 * * * *", False),
        ("0 */2 * * *", False),
        ("0 2/6 * * *", False),
        ("* * * * * */5", False),
    ],
)
def test_fixed_hour(expr, fixed):
    assert cron.fixed_hour(expr) is fixed


@pytest.mark.parametrize(
    ("name", "expr", "tz", "at", "key"),
    [
        ("nightly", "30 2 * * *", BERLIN, utc(2026, 10, 25, 0, 30), "nightly:2026-10-25T02:30:00"),
        ("nightly", "30 2 * * *", BERLIN, utc(2026, 10, 25, 1, 30), "nightly:2026-10-25T02:30:00"),
        ("nightly", "30 2 * * *", "UTC", utc(2026, 10, 25, 2, 30), "nightly:2026-10-25T02:30:00"),
        ("hourly", "0 * * * *", BERLIN, utc(2026, 10, 25, 0, 0), "hourly:1792886400000"),
        ("hourly", "0 * * * *", BERLIN, utc(2026, 10, 25, 1, 0), "hourly:1792890000000"),
        ("five", "*/5 * * * *", "UTC", utc(2026, 1, 1, 0, 5), "five:1767225900000"),
        ("five", "*/5 * * * *", BERLIN, local(2026, 1, 1, 1, 5), "five:1767225900000"),
    ],
)
def test_fire_key(name, expr, tz, at, key):
    assert cron.fire_key(name, expr, tz, at) == key
