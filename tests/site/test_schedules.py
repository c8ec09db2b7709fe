"""Cron schedules through the Django layer: form errors users see, DB -> Redis sync after commit,
syncqueue [--check], preview, run now (function, command, admin action) and the in-process Scheduler
(one task per due second, one leader, fire keys dedupe). Real Redis, real DB."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from queueapp import conf, scheduling, sync
from queueapp.engine import cron
from queueapp.engine.scheduler import Scheduler
from queueapp.engine.settings import ScheduleSpec
from queueapp.forms import ScheduleForm
from queueapp.models import Schedule
from tests.commands import syncqueue

pytestmark = pytest.mark.django_db(transaction=True)  # on_commit pushes need real commits

POST = {
    "name": "nightly",
    "cron": "30  2 * * *",
    "timezone": "Europe/Berlin",
    "task": "queueapp.demo.echo",
    "args": '[1, "two"]',
    "kwargs": '{"k": "v"}',
    "user": "acme",
    "priority": "4",
    "enabled": "on",
    "missed_fire_policy": "run_once",
    "start_at": "",
    "end_at": "",
}
NAME_RULE = "Use 1-128 letters, digits or _ . : @ + = - (no spaces)."


def form(**changes):
    return ScheduleForm({**POST, **changes})


def edit(schedule=None, **changes):
    f = ScheduleForm({**POST, **changes}, instance=schedule)
    assert f.is_valid(), f.errors
    return f.save()


def in_redis(queue, name):
    return queue.config_snapshot().schedules.get(name)


@pytest.fixture
def nightly(fq_settings):
    return edit()


# -- what users see when an input is wrong --------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"cron": "61 * * * *"}, "cron", "'61 * * * *' is not a valid cron expression"),
        (
            {"cron": "* * *"},
            "cron",
            "a cron expression has 5 fields (minute hour day month weekday) or 6 (plus seconds), not 3",
        ),
        ({"cron": "* * * * * * *"}, "cron", "or 6 (plus seconds), not 7"),
        ({"cron": "0 0 31 2 *"}, "cron", "'0 0 31 2 *' is not a valid cron expression"),
        ({"cron": "é ü ß ö ä"}, "cron", "'é ü ß ö ä' is not a valid cron expression"),
        (
            {"timezone": "Mars/Olympus"},
            "timezone",
            "unknown time zone 'Mars/Olympus': use an IANA name such as UTC or Europe/Berlin",
        ),
        (
            {"task": "os.system"},
            "task",
            "'os.system' is not a registered task (declare it with @task in a tasks module)",
        ),
        ({"task": "queueapp.demo.nope"}, "task", "'queueapp.demo.nope' is not a registered task"),
        ({"args": '{"a": 1}'}, "args", 'Arguments must be a JSON array, e.g. [1, "two"].'),
        ({"args": "[1,"}, "args", "Enter a valid JSON."),
        ({"kwargs": "[1]"}, "kwargs", 'Keyword arguments must be a JSON object, e.g. {"key": "value"}.'),
        ({"kwargs": '"text"'}, "kwargs", 'Keyword arguments must be a JSON object, e.g. {"key": "value"}.'),
        ({"start_at": "2026-05-02 10:00", "end_at": "2026-05-02 10:00"}, "end_at", "The end must be after the start."),
        ({"start_at": "2026-05-02 10:00", "end_at": "2026-05-01 10:00"}, "end_at", "The end must be after the start."),
        ({"name": "my schedule"}, "name", NAME_RULE),
        ({"user": "acme corp"}, "user", NAME_RULE),
        ({"priority": "9"}, "priority", "Select a valid choice. 9 is not one of the available choices."),
        ({"missed_fire_policy": "burst"}, "missed_fire_policy", "Select a valid choice. burst is not one of"),
    ],
)
def test_invalid_input_is_a_form_error_with_the_users_message(fq_settings, queue, changes, field, message):
    f = form(**changes)
    assert not f.is_valid()
    assert any(message in error for error in f.errors[field]), f.errors
    assert set(f.errors) == {field}
    assert not Schedule.objects.exists() and queue.config_snapshot().schedules == {}


def test_oversized_args_are_a_form_error(fq_settings):
    fq_settings.FAIRQUEUE = {**fq_settings.FAIRQUEUE, "MAX_PAYLOAD_BYTES": 64}
    f = form(args='["' + "x" * 60 + '"]')
    assert not f.is_valid()
    assert f.errors["args"] == ["payload is 92 bytes, over the 64-byte limit; pass ids, not data"]
    assert form(args="[1]").is_valid()


def test_the_model_rejects_the_same_on_the_orm_path(fq_settings, django_assert_num_queries):
    """full_clean runs the row's own rules without a query or a task import; what the row refers
    to (a registered task) is the form's check, so the admin and the dashboard refuse os.system."""
    with pytest.raises(ValidationError) as caught, django_assert_num_queries(1):  # the name's uniqueness
        Schedule(name="x", cron="* * *", timezone="Mars/Olympus", task="os.system", args={}).full_clean()
    assert set(caught.value.message_dict) == {"cron", "timezone", "args"}
    form = ScheduleForm(
        {
            "name": "x",
            "cron": "* * * * *",
            "timezone": "UTC",
            "task": "os.system",
            "user": "u",
            "priority": 3,
            "missed_fire_policy": "skip",
            "args": "[]",
            "kwargs": "{}",
        }
    )
    assert not form.is_valid() and "is not a registered task" in form.errors["task"][0]


# -- DB -> Redis -------------------------------------------------------------------------------
def test_a_valid_form_saves_and_syncs(nightly, queue):
    assert nightly.cron == "30 2 * * *"  # normalised
    config = in_redis(queue, "nightly")
    assert config == scheduling.schedule_spec(nightly) == sync.expected().snapshot().schedules["nightly"]
    assert config.to_fields() == {
        "cron": "30 2 * * *",
        "tz": "Europe/Berlin",
        "func": "queueapp.demo.echo",
        "user": "acme",
        "payload": '{"args":[1,"two"],"kwargs":{"k":"v"}}',
        "priority": "4",
        "enabled": "1",
        "policy": "run_once",
    }
    version, rows = queue.schedules()
    assert list(rows) == ["nightly"] and rows["nightly"] == (config.to_fields(), {}) and version


def test_start_and_end_are_synced_as_ms(fq_settings, queue):
    schedule = edit(start_at="2026-05-01 00:00", end_at="2026-06-01 00:00")
    config = in_redis(queue, "nightly")
    start, end = config.start_ms, config.end_ms
    assert datetime.fromtimestamp(start / 1000, UTC) == schedule.start_at and end - start == 31 * 86_400_000


def state(raw, prefix, name="nightly"):
    return raw.hgetall(f"{prefix}:sched:state:{name}")


@pytest.mark.parametrize("changes", [{"cron": "0 3 * * *"}, {"timezone": "UTC"}, {"start_at": "2026-05-01 00:00"}])
def test_changing_when_it_fires_resets_the_stored_next_fire(nightly, queue, raw, prefix, changes):
    queue.fire_schedule("nightly", [], 1_700_000_000_000)
    before = queue.schedules_version()
    assert state(raw, prefix) == {"next_ms": "1700000000000"}
    edit(nightly, **changes)
    assert state(raw, prefix) == {} and queue.schedules_version() != before
    assert in_redis(queue, "nightly") == scheduling.schedule_spec(Schedule.objects.get())


def test_other_edits_keep_the_stored_next_fire(nightly, queue, raw, prefix):
    queue.fire_schedule("nightly", [], 1_700_000_000_000)
    edit(nightly, priority="5")
    assert state(raw, prefix) == {"next_ms": "1700000000000"}


def test_delete_removes_it_from_redis(nightly, queue, raw, prefix):
    queue.fire_schedule("nightly", [], 1_700_000_000_000)
    nightly.delete()
    assert in_redis(queue, "nightly") is None and queue.schedules()[1] == {}
    assert state(raw, prefix) == {}


def test_syncqueue_after_flushdb_restores_schedules(nightly, queue, raw):
    before = queue.config_snapshot()
    raw.flushdb()
    assert queue.config_snapshot().schedules == {}
    assert syncqueue()[0] == 0
    assert queue.config_snapshot() == before == sync.expected().snapshot()


@pytest.mark.parametrize(
    ("make_drift", "line"),
    [
        (
            lambda q, r, p: r.hset(f"{p}:sched:cfg:nightly", "cron", "0 4 * * *"),
            "schedule nightly: cron is '30 2 * * *' in the DB but '0 4 * * *' in Redis",
        ),
        (lambda q, r, p: r.srem(f"{p}:sched:all", "nightly"), "schedule nightly: in the DB, missing in Redis"),
        (
            lambda q, r, p: q.set_schedule("rogue", ScheduleSpec("rogue", "* * * * *", "queueapp.demo.echo")),
            "schedule rogue: in Redis, not in the DB",
        ),
    ],
)
def test_syncqueue_check_reports_schedule_drift(nightly, queue, raw, prefix, make_drift, line):
    assert syncqueue("--check")[0] == 0
    make_drift(queue, raw, prefix)
    code, out = syncqueue("--check")
    assert code == 1 and "drift: " + line in out, out
    assert syncqueue()[0] == 0
    assert syncqueue("--check") == (0, "in sync: Redis matches the database\n")


# -- preview -----------------------------------------------------------------------------------
def test_preview_gives_five_increasing_aware_times_in_the_schedule_zone():
    after = datetime(2026, 3, 27, 12, tzinfo=UTC)
    times = scheduling.preview("30  2 * * *", "Europe/Berlin", after=after)
    assert [t.isoformat() for t in times] == [
        f"2026-03-{d}T{hm}:00+0{o}:00"
        for d, hm, o in ((28, "02:30", 1), (29, "03:00", 2), (30, "02:30", 2), (31, "02:30", 2))
    ] + ["2026-04-01T02:30:00+02:00"]
    assert all(str(t.tzinfo) == "Europe/Berlin" for t in times)
    utc = [t.astimezone(UTC) for t in times]
    assert utc == sorted(utc) and len(set(utc)) == 5 and utc[0] > after


def test_preview_defaults_to_now_and_validates():
    start = datetime.now(UTC)
    times = scheduling.preview("* * * * *", "UTC")
    assert len(times) == 5 and start < times[0] <= start + timedelta(minutes=1)
    assert all(b - a == timedelta(minutes=1) for a, b in zip(times, times[1:], strict=False))
    with pytest.raises(cron.CronError, match="not 3"):
        scheduling.preview("* * *", "UTC")


# -- run now -----------------------------------------------------------------------------------
def assert_enqueued_from(queue, task_id, schedule):
    task = queue.get_task(task_id)
    assert task is not None and task.state == "queued"
    assert (task.func, task.args, task.kwargs, task.user, task.priority) == (
        "queueapp.demo.echo",
        [1, "two"],
        {"k": "v"},
        "acme",
        4,
    )
    assert Schedule.objects.get(pk=schedule.pk).last_task_id == task_id


def test_run_now(nightly, queue):
    task_id = scheduling.run_now(nightly)
    assert_enqueued_from(queue, task_id, nightly)
    assert scheduling.run_now(nightly) != task_id  # a fresh task every time
    assert queue.stats()["enqueued"] == 2


def test_runscheduler_run_now_prints_the_task_id(nightly, queue):
    out = io.StringIO()
    call_command("runscheduler", "--run-now", "nightly", stdout=out)
    task_id = out.getvalue().strip()
    assert_enqueued_from(queue, task_id, nightly)
    assert queue.stats()["enqueued"] == 1


def test_runscheduler_run_now_unknown_name_lists_the_schedules(nightly, queue):
    edit(name="hourly", cron="0 * * * *")
    with pytest.raises(CommandError, match=r"No schedule named 'nope' \(schedules: hourly, nightly\)"):
        call_command("runscheduler", "--run-now", "nope")
    assert queue.stats()["enqueued"] == 0


def test_admin_action_runs_the_selected_schedules(admin_client, nightly, queue):
    page = admin_client.post(
        "/admin/queueapp/schedule/", {"action": "run_selected_now", "_selected_action": [nightly.pk]}, follow=True
    )
    assert page.status_code == 200
    task_id = Schedule.objects.get().last_task_id
    assert [str(m) for m in page.context["messages"]] == [f"Enqueued 1 task(s): {task_id}"]
    assert_enqueued_from(queue, task_id, nightly)


# -- the scheduler, in process -----------------------------------------------------------------
@pytest.fixture
def every_second(fq_settings):
    return edit(name="tick", cron="* * * * * *", timezone="UTC", missed_fire_policy="skip")


def run_ticks(seconds, *schedulers):
    fired = [0] * len(schedulers)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for i, scheduler in enumerate(schedulers):
            fired[i] += scheduler.tick()
        time.sleep(0.05)
    return fired


def queued_ids(queue, user="acme"):
    return [t.id for t in queue.tenant_queue(user, limit=1000).items]


def fired_seconds(ids):
    """The due seconds (ms) of the fires; each one second after the previous."""
    assert all(i.startswith("cron:tick:") for i in ids), ids
    seconds = sorted(int(i.removeprefix("cron:tick:")) for i in ids)
    assert all(s % 1000 == 0 for s in seconds) and [b - a for a, b in zip(seconds, seconds[1:], strict=False)] == [
        1000
    ] * (len(seconds) - 1), seconds
    return seconds


def test_scheduler_fires_one_task_per_second(every_second, queue):
    scheduler = Scheduler(conf.get_queue(), tick=0.05, lease_seconds=2, on_fire=scheduling.record_fire)
    started = queue.redis_time_ms()
    (fired,) = run_ticks(3.2, scheduler)
    ended = queue.redis_time_ms()
    ids = queued_ids(queue)
    seconds = fired_seconds(ids)
    assert len(ids) == len(set(ids)) == fired == queue.stats()["enqueued"]
    assert started < seconds[0] and seconds[-1] <= ended and 3 <= fired <= 4
    assert {s for s in range(started // 1000 * 1000 + 1000, ended - 200, 1000) if s > started + 200} <= set(seconds)
    assert queue.get_task(ids[0]).func == "queueapp.demo.echo"
    row = Schedule.objects.get()  # record_fire mirrors the runtime state into the row
    assert row.last_task_id == f"cron:tick:{seconds[-1]}"
    assert row.next_fire_at == datetime.fromtimestamp(seconds[-1] / 1000 + 1, UTC)
    scheduler.release()


def test_one_leader_then_takeover(every_second, queue):
    first = Scheduler(conf.get_queue(), tick=0.05, lease_seconds=2)
    second = Scheduler(conf.get_queue(), tick=0.05, lease_seconds=2)
    assert first.tick() == 0 and first.leading  # leads; the first tick only plans the next fire
    fired = run_ticks(1.5, first, second)
    assert fired[0] >= 1 and fired[1] == 0 and not second.leading
    first.release()
    assert not first.leading
    next_ms = int(queue.schedules()[1]["tick"][1]["next_ms"])
    while queue.redis_time_ms() < next_ms + 300:  # a due second passes with no leader: taken over from Redis
        time.sleep(0.02)
    fired += run_ticks(1.5, second, first)
    assert second.leading and fired[2] >= 1 and fired[3] == 0
    ids = queued_ids(queue)
    assert len(ids) == len(set(ids)) == sum(fired)
    fired_seconds(ids)  # the takeover missed no second
    second.release()


def test_two_leaders_fire_each_second_once(every_second, queue):
    schedulers = [Scheduler(conf.get_queue(), tick=0.05, lease_seconds=2) for _ in range(2)]
    for s in schedulers:  # both believe they lead, e.g. across a lease handover
        s._lead = lambda: True
        s.leading_until = float("inf")
    fired = run_ticks(2.2, *schedulers)
    ids = queued_ids(queue)
    assert len(ids) == len(set(ids)) == sum(fired) >= 2


def test_fire_schedule_with_the_same_key_creates_one_task(every_second, queue):
    spec = scheduling.schedule_spec(every_second)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    key = cron.fire_key("tick", spec.cron, spec.tz, at)
    fire = [(key, int(at.timestamp() * 1000), spec.task("cron:" + key))]
    other = conf.get_queue().dedicated()  # a second client, as a second scheduler would have
    assert queue.fire_schedule("tick", fire, None) == (1, 0)
    assert other.fire_schedule("tick", [(key, fire[0][1], spec.task())], None) == (0, 1)  # even with another id
    assert queued_ids(queue) == ["cron:tick:1767225600000"] and queue.stats()["enqueued"] == 1


# -- names that once clashed with the scheduler's own keys -----------------------------------
@pytest.mark.parametrize("name", ["all", "version", "leader"])
def test_schedules_named_like_scheduler_keys_save_sync_and_fire(fq_settings, queue, raw, name):
    """sched:cfg:<name> / sched:state:<name> never reach sched:all, :version or :leader."""
    edit(name=name, cron="* * * * * *", timezone="UTC")
    assert in_redis(queue, name) == scheduling.schedule_spec(Schedule.objects.get(name=name))
    assert syncqueue("--check")[0] == 0
    scheduler = Scheduler(conf.get_queue(), tick=0.05, lease_seconds=2)
    (fired,) = run_ticks(2.2, scheduler)
    scheduler.release()
    assert fired >= 1 and len(queued_ids(queue)) == fired
    assert raw.type(queue.config.keys.schedules()) == "set" and name in queue.schedules()[1]
    assert raw.type(queue.config.keys.scheduler_leader()) in ("none", "string")
    Schedule.objects.get(name=name).delete()
    assert in_redis(queue, name) is None and raw.type(queue.config.keys.schedules()) in ("set", "none")


def test_a_schedule_stored_under_the_old_key_layout_moves_on_the_next_sync(nightly, queue, raw, prefix):
    """Before the namespaces split, a schedule lived at sched:<name> and sched:<name>:state: the
    next push (syncqueue, or any save) moves both, so its next fire is kept."""
    keys = queue.config.keys
    raw.rename(keys.schedule("nightly"), f"{prefix}:sched:nightly")
    raw.hset(f"{prefix}:sched:nightly:state", mapping={"next_ms": "1700000000000"})
    raw.delete(keys.schedule_state("nightly"))
    assert syncqueue()[0] == 0
    assert raw.exists(f"{prefix}:sched:nightly", f"{prefix}:sched:nightly:state") == 0
    assert raw.hgetall(keys.schedule_state("nightly")) == {"next_ms": "1700000000000"}
    assert in_redis(queue, "nightly") == scheduling.schedule_spec(nightly)


# -- a row saved past validation ---------------------------------------------------------------
def test_an_invalid_schedule_saved_by_the_orm_is_skipped_and_the_others_fire(every_second, queue, caplog):
    """Schedule.objects.create skips full_clean: a cron of '61 * * * *' reaches Redis. The scheduler
    skips it with one clear error and keeps firing the valid every-second schedule beside it."""
    Schedule.objects.create(name="broken", cron="61 * * * *", task="queueapp.demo.echo")
    assert "broken" in queue.schedules()[1]
    scheduler = Scheduler(conf.get_queue(), tick=0.05, lease_seconds=2)
    with caplog.at_level("ERROR", logger="fairqueue.scheduler"):
        (fired,) = run_ticks(2.2, scheduler)
    scheduler.release()
    assert fired >= 1 and all(queue.get_task(i).func == "queueapp.demo.echo" for i in queued_ids(queue))
    assert "broken" in scheduler.broken and "broken" not in scheduler.specs
    errors = [r.getMessage() for r in caplog.records if "broken" in r.getMessage()]
    assert len(errors) == 1 and "not usable" in errors[0] and "61 * * * *" in errors[0]
