"""Issue 14: Django's task signals (django.tasks.signals) from FairQueue: task_enqueued by
the backend where the task is enqueued, task_started and task_finished by the worker around
every attempt, with the backend class as sender and the attempt's status; the same for a
coroutine task on the worker's event loop. Real runworker processes."""

from __future__ import annotations

import pytest
from django.tasks.signals import task_enqueued

from queueapp.backends import FairQueueBackend
from queueapp.engine import Task

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("fq_settings")]


@pytest.fixture
def senv(env):
    modules = "queueapp.demo,tests.fixture_tasks,tests.coroutine_tasks,tests.signal_receivers"
    return {**env, "FAIRQUEUE_TASK_MODULES": modules}


def test_each_signal_once_per_task_in_order_with_its_status(queue, senv, raw, workers):
    from queueapp.demo import echo, fail
    from tests.coroutine_tasks import greet

    enqueued = []

    def on_enqueued(sender, task_result, **kwargs):
        enqueued.append((sender, task_result.id, task_result.status))

    task_enqueued.connect(on_enqueued)
    try:
        ok = echo.using(user="acme").enqueue("hi")
        bad = fail.using(user="acme", max_retries=1).enqueue("boom")
        coro = greet.using(user="acme").enqueue("ann")
    finally:
        task_enqueued.disconnect(on_enqueued)
    assert enqueued == [(FairQueueBackend, r.id, "READY") for r in (ok, bad, coro)]
    odd = queue.push(Task("tests.fixture_tasks.returns_object", user="acme")).id  # result not JSON

    assert workers(senv, "--worker-id", "w1", "--burst").wait(120) == 0
    got = [line.split("|") for line in raw.lrange(f"{senv['FQ_LEDGER']}:signals", 0, -1)]
    assert {sender for _, sender, _, _ in got} == {"FairQueueBackend"}
    by_task = {r.id: [(name, status) for name, _, tid, status in got if tid == r.id] for r in (ok, bad, coro)}
    assert by_task[ok.id] == [("started", "RUNNING"), ("finished", "SUCCESSFUL")]
    assert by_task[coro.id] == [("started", "RUNNING"), ("finished", "SUCCESSFUL")]  # on the event loop
    assert by_task[bad.id] == [("started", "RUNNING"), ("finished", "FAILED")] * 2  # each attempt
    odd_signals = [(name, status) for name, _, tid, status in got if tid == odd]
    assert odd_signals == [("started", "RUNNING"), ("finished", "FAILED")]  # as the queue records it
    assert queue.get_task(odd).dead_reason == "invalid_result"
    assert queue.get_task(bad.id).state == "dead"


def test_a_receiver_that_raises_is_logged_and_the_task_still_succeeds(queue, senv, workers, tmp_path):
    from queueapp.demo import echo

    result = echo.using(user="acme").enqueue("still")
    assert workers({**senv, "FQ_BROKEN_RECEIVER": "1"}, "--worker-id", "w1", "--burst").wait(120) == 0
    assert queue.get_task(result.id).state == "succeeded" and queue.get_task(result.id).return_value == "still"
    log = (tmp_path / "runworker-0.log").read_text()
    assert "a task signal receiver failed" in log and "RuntimeError: receiver bug" in log
