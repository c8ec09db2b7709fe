"""Pages stay up and show what is wrong whatever the data. Every dead letter is visible and
actionable whatever state its record is in: no error recorded (purged), a record Python cannot
decode, a record that is gone (found by hand on a running dashboard: the page answered 500, or
listed 2 of 12 and said the queue was empty). A schedule saved past validation is marked broken."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.tasks import TaskResultStatus
from django.test import Client

from queueapp import conf
from queueapp.backends import FairQueueBackend
from queueapp.engine import State, Task

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(fq_settings):
    client = Client()
    client.force_login(User.objects.create_superuser("op", password="pw"))
    return client


def test_dead_letters_without_an_error_render(staff, queue):
    queue.push_many([Task("queueapp.demo.noop", user="p") for _ in range(3)])
    call_command("purgequeue", "p", "--yes", stdout=io.StringIO())
    page = staff.get("/dead-letters/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("no error recorded (purged)") == 3 and "is empty" not in html


def broken_dead_letters(queue, raw, n_good=2):
    """n_good readable dead letters and 10 whose records are damaged in five ways (two each):
    eight Python cannot decode, two oversized (readable, but they cannot run)."""
    good = [queue.push(Task("queueapp.demo.noop", user="acme")).id for _ in range(n_good)]
    bad = [queue.push(Task("queueapp.demo.noop", user="acme")).id for _ in range(10)]
    queue.purge("acme")  # all twelve are dead letters now, reason purged
    keys = queue.config.keys
    damage = [
        lambda k: raw.hset(k, "payload", "{not json"),
        lambda k: raw.hset(k, "payload", '{"args":["' + "x" * 70_000 + '"]}'),  # oversized
        lambda k: raw.hdel(k, "func", "priority"),
        lambda k: raw.hset(k, "payload", "[1, 2]"),  # JSON, but no object
        lambda k: raw.delete(k),  # the record is gone, its DLQ entry is left
    ]
    for i, task_id in enumerate(bad):
        damage[i % 5](keys.task(task_id))
    return good, bad


def test_every_dead_letter_is_listed_whatever_its_record(queue, raw, fq_settings):
    good, bad = broken_dead_letters(queue, raw)
    page = queue.dead_letters(0, 50)
    assert page.total == 12 and len(page.items) == 12
    by_id = {t.id: t for t in page.items}
    oversized = bad[1::5]
    unreadable = [i for i in bad if i not in oversized]
    assert all(by_id[i].unreadable is None for i in good + oversized)
    assert all(by_id[i].unreadable for i in unreadable)
    assert {by_id[i].error["type"] for i in unreadable} == {"unreadable record"}


def test_unreadable_dead_letters_are_shown_and_their_pages_open(staff, queue, raw):
    good, bad = broken_dead_letters(queue, raw)
    html = staff.get("/dead-letters/").content.decode()
    assert all(i in html for i in good + bad) and html.count(">unreadable<") == 8
    for task_id in [bad[0], bad[2], bad[3], bad[4]]:  # one of each unreadable kind
        detail = staff.get(f"/tasks/{task_id}/")
        assert detail.status_code == 200 and "This record cannot be read" in detail.content.decode()


def test_get_result_of_an_unreadable_dead_letter_says_why(queue, raw, fq_settings):
    _, bad = broken_dead_letters(queue, raw)
    result = FairQueueBackend("default", {}).get_result(bad[0])
    assert result.status == TaskResultStatus.FAILED
    assert result.errors and "cannot be decoded" in result.errors[0].traceback


def test_unreadable_dead_letters_can_be_deleted_and_requeue_skips_them(queue, raw, fq_settings):
    good, bad = broken_dead_letters(queue, raw)
    requeued, skipped = queue.dlq_requeue(good + bad)
    assert requeued == 2 and sorted(skipped) == sorted(bad)  # they cannot run: left for deletion
    assert queue.dead_letters().total == 10
    deleted, skipped = queue.dlq_delete(bad, user="acme")
    assert (deleted, skipped) == (10, [])
    assert queue.dead_letters().total == 0 and queue.dead_letters(user="acme").total == 0
    assert queue.stats()["dead"] == 0 and queue.tenant_stats("acme")["dead"] == 0
    assert all(not raw.exists(queue.config.keys.task(i)) for i in bad)


def test_delete_all_matching_from_the_page_clears_unreadable_ones(staff, queue, raw):
    broken_dead_letters(queue, raw)
    page = staff.post("/dead-letters/delete/", {"scope": "all", "confirmed": "yes", "user": "acme"})
    assert page.status_code == 302
    assert conf.get_queue().dead_letters().total == 0


def test_a_task_dead_lettered_for_lost_leases_says_why(make_queue, config, fq_settings):
    """A poison pill dies with reason lease_expired: its result carries an error saying so."""
    import dataclasses
    import time

    short = make_queue(dataclasses.replace(config, lease_seconds=0.2))
    task_id = short.push(Task("queueapp.demo.noop", user="evil", max_deliveries=1)).id
    assert short.pop("w1").id == task_id  # the worker dies with it: no ack, no heartbeat
    deadline = time.monotonic() + 30
    while short.get_task(task_id).state != State.DEAD and time.monotonic() < deadline:
        time.sleep(0.1)
        short.reap()
    task = short.get_task(task_id)
    assert task.state == State.DEAD and task.dead_reason == "lease_expired"
    assert task.error["type"] == "fairqueue.LeaseExpired" and len(task.errors) == 1
    result = FairQueueBackend("default", {}).get_result(task_id)
    assert result.status == TaskResultStatus.FAILED and "lease expired" in result.errors[0].traceback


def test_a_schedule_saved_past_validation_is_marked_broken(staff, fq_settings):
    from queueapp.models import Schedule

    Schedule.objects.create(name="bad-cron", cron="61 * * * *", task="queueapp.demo.noop")
    html = staff.get("/schedules/").content.decode()
    assert ">broken<" in html and "61 * * * *" in html
