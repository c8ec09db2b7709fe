"""Failures: retries with backoff, dead letters, requeue and delete, cancel."""

from __future__ import annotations

import dataclasses
import time

import pytest

from queueapp.engine import InvalidState, RetryPolicy, State, Task, TaskNotFound


@pytest.fixture
def fast(make_queue, config):
    """Retries after 50-100 ms."""
    return make_queue(dataclasses.replace(config, retry=RetryPolicy(base=0.1, jitter=0.5, cap=0.1)))


def boom(message="boom"):
    try:
        raise ValueError(message)
    except ValueError as exc:
        return exc


def push(q, user="acme", **kw):
    return q.push(Task("demo.fail", user=user, **kw)).id


def test_failure_schedules_a_retry_after_the_backoff(fast):
    task_id = push(fast, max_retries=2)
    started = fast.redis_time_ms()
    outcome = fast.pop("w1").fail(boom())
    ended = fast.redis_time_ms()
    assert outcome.outcome == "retry"
    assert started + 45 <= outcome.due_ms <= ended + 100  # 50-100 ms after the failure (Redis clock)
    task = fast.get_task(task_id)
    assert task.state == State.DEFERRED and task.failures == 1
    assert task.error["type"] == "builtins.ValueError" and "boom" in task.error["traceback"]
    assert fast.pop("w1") is None  # not before the backoff
    time.sleep(0.12)
    assert fast.promote() == 1
    assert fast.pop("w1").id == task_id


def test_dead_letter_after_max_retries_with_error_and_traceback(fast):
    task_id = push(fast, max_retries=2)
    outcomes = []
    for attempt in range(3):
        lease = None
        while lease is None:
            fast.promote()
            lease = fast.pop("w1")
        outcomes.append(lease.fail(boom(f"attempt {attempt}")).outcome)
    assert outcomes == ["retry", "retry", "dead"]
    task = fast.get_task(task_id)
    assert task.state == State.DEAD and task.dead_reason == "max_retries" and task.failures == 3
    assert [e["message"] for e in task.errors] == ["attempt 0", "attempt 1", "attempt 2"]
    assert "ValueError: attempt 2" in task.error["traceback"]
    stats = fast.stats()
    assert (stats["failed"], stats["retried"], stats["dead"], stats["dead_lettered"]) == (3, 2, 1, 1)


def test_fail_without_retry_dead_letters_at_once_with_the_reason(queue):
    task_id = push(queue, max_retries=5)
    outcome = queue.pop("w1").fail(None, retry=False, reason="unknown_task", message="not registered")
    assert (outcome.outcome, outcome.reason) == ("dead", "unknown_task")
    assert queue.get_task(task_id).error["message"] == "not registered"


def test_dead_letter_false_ends_as_failed_outside_the_dlq(queue):
    task_id = push(queue, max_retries=0, dead_letter=False)
    assert queue.pop("w1").fail(boom()).outcome == "failed"
    assert queue.get_task(task_id).state == State.FAILED
    assert queue.dead_letters().total == 0


def dead(q, n, user="acme", func="demo.fail"):
    ids = [q.push(Task(func, args=[i], user=user, max_retries=0)).id for i in range(n)]
    while (lease := q.pop("w1")) is not None:
        lease.fail(boom())
    return ids


def test_requeue_one_keeps_payload_and_history_and_resets_counters(anyqueue):
    (task_id,) = dead(anyqueue, 1)
    before = anyqueue.get_task(task_id)
    assert anyqueue.dlq_requeue([task_id]) == (1, [])
    after = anyqueue.get_task(task_id)
    assert after.state == State.QUEUED and after.payload == before.payload
    assert (after.failures, after.deliveries) == (0, 0)
    assert [h["state"] for h in after.history] == ["queued", "running", "dead", "queued"]
    assert anyqueue.pop("w2").id == task_id
    assert anyqueue.stats()["dead"] == 0


def test_requeue_skips_ids_that_are_not_dead(queue):
    (task_id,) = dead(queue, 1)
    assert queue.dlq_requeue([task_id, "missing"]) == (1, ["missing"])
    assert queue.dlq_requeue([task_id]) == (0, [task_id])


def test_requeue_all_matching_a_tenant_or_task_path(queue):
    a = dead(queue, 3, user="a")
    dead(queue, 2, user="b")
    b_other = dead(queue, 2, user="b", func="demo.other")
    progress = []
    assert queue.dlq_requeue_matching(user="a", batch=2, progress=progress.append) == 3
    assert progress == [2, 3]
    assert queue.dlq_requeue_matching(func="demo.other", batch=1) == 2
    assert {t.id for t in queue.tenant_queue("a").items} == set(a)
    assert {t.id for t in queue.tenant_queue("b").items} == set(b_other)
    assert queue.dead_letters().total == 2 and queue.dead_letters(user="a").total == 0


def test_delete_dead_letters(queue):
    ids = dead(queue, 3)
    assert queue.dlq_delete(ids[:1]) == (1, [])
    assert queue.get_task(ids[0]) is None
    assert queue.dlq_delete_matching(user="acme") == 2
    assert queue.dead_letters().total == 0 and queue.stats()["dead"] == 0


def test_dead_letters_page_newest_first_and_filter_by_tenant(queue):
    a = dead(queue, 3, user="a")
    b = dead(queue, 2, user="b")
    page = queue.dead_letters(limit=4)
    assert page.total == 5 and len(page.items) == 4 and page.has_next
    assert {t.id for t in queue.dead_letters(user="b").items} == set(b)
    assert queue.dead_letters(user="a").total == len(a)


def test_cancel_queued_and_deferred_tasks(queue):
    queued = push(queue)
    deferred = queue.push(Task("demo.noop", run_after=int(time.time() * 1000) + 60_000)).id
    queue.cancel(queued)
    queue.cancel(deferred)
    assert queue.get_task(queued).state == State.CANCELLED
    assert queue.get_task(deferred).state == State.CANCELLED
    assert queue.pop("w1") is None
    stats = queue.stats()
    assert (stats["queued"], stats["delayed"], stats["cancelled"]) == (0, 0, 2)


def test_cancel_refuses_running_and_unknown_tasks(queue):
    task_id = push(queue)
    queue.pop("w1")
    with pytest.raises(InvalidState, match="running"):
        queue.cancel(task_id)
    with pytest.raises(TaskNotFound):
        queue.cancel("nope")


def test_cancelling_the_last_task_removes_the_tenant_from_the_ready_set(queue, raw, prefix):
    task_id = push(queue, user="solo")
    queue.cancel(task_id)
    assert raw.zscore(f"{prefix}:ready:all", "solo") is None
    assert queue.tenants_with_backlog().total == 0


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_dead_letters_of_no_task_are_not_counted_per_function(anyqueue, raw):
    """stats:f (per-function outcomes for /metrics) must not grow by one field per hand-made path."""
    from queueapp.engine import Task

    anyqueue.push(Task("os.system", args=["true"], user="acme"))
    anyqueue.push(Task("demo.noop", user="acme", max_retries=0))
    for reason in ("unknown_task", "error"):
        lease = anyqueue.pop("w1")
        anyqueue.fail(lease, RuntimeError("x"), retry=False, reason=reason)
    assert raw.hgetall(anyqueue.config.keys.stats_func()) == {"dead:demo.noop": "1"}
