"""FairQueueBackend (django.tasks on FairQueue) against a real Redis: what enqueue stores, what results read back."""

from __future__ import annotations

import asyncio
import io
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.checks import Error
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.tasks import TaskResultStatus, task_backends
from django.tasks import task as django_task
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist, TaskResultMismatch
from django.utils import timezone

from queueapp import Priority, conf, runtime
from queueapp import task as seed_task
from queueapp.backends import FairQueueBackend, InvalidTaskArguments
from queueapp.engine import State
from queueapp.engine import Task as EngineTask
from queueapp.engine.errors import UnknownTask
from queueapp.priorities import to_django


@django_task(user="acme", max_retries=2, timeout=30)
def add(a, b):
    return a + b


@django_task
def explode(message):
    raise ValueError(message)


@seed_task(priority=Priority.HIGH, max_retries=3)
def seeded(value=None):
    return value


@seed_task(cost=2000)
def costly():
    return None


def backend() -> FairQueueBackend:
    return task_backends["default"]


def run_once(worker="worker-1", retry=False):
    """One in-process execution through the engine, as a worker does it: ack the value or fail with the error."""
    lease = conf.get_queue().pop(worker)
    try:
        return lease.ack(runtime.execute(lease.task))
    except ValueError as exc:
        return lease.fail(exc, retry=retry)


def test_backend_flags():
    flags = (backend().supports_defer, backend().supports_priority, backend().supports_get_result)
    assert isinstance(backend(), FairQueueBackend) and flags == (True, True, True)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("user", "a b", "user 'a b' is not valid: use 1-128 letters"),
        ("max_retries", -1, "max_retries must be a non-negative integer, got -1"),
        ("timeout", 0, "timeout must be a number of seconds between 0 and 7 days, got 0"),
        ("timeout", -2.5, "timeout must be a number of seconds between 0 and 7 days, got -2.5"),
        ("priority", 101, "priority must be a whole number between -100 and 100"),
        ("run_after", datetime(2030, 1, 1), "run_after must be an aware datetime"),  # noqa: DTZ001
    ],
)
def test_invalid_options_are_refused_by_using_and_by_enqueue(fq_settings, queue, field, value, message):
    with pytest.raises(InvalidTask, match=message):
        add.using(**{field: value})
    bad = add.using(user="acme")
    object.__setattr__(bad, field, value)  # slipped past using(): enqueue itself must refuse it
    with pytest.raises(InvalidTask, match=message):
        bad.enqueue(1, 2)
    assert queue.stats()["enqueued"] == 0


def test_enqueue_stores_the_engine_task(fq_settings, queue):
    result = add.enqueue(2, b=3)
    assert (result.status, result.backend, result.args, result.kwargs) == ("READY", "default", [2], {"b": 3})
    stored = queue.get_task(result.id)
    assert (stored.func, stored.user, stored.priority, stored.queue) == (add.module_path, "acme", 3, "default")
    assert (stored.max_retries, stored.timeout, stored.state, stored.run_after) == (2, 30.0, State.QUEUED, None)
    assert stored.id == result.id and add.module_path == "tests.site.test_backend.add"


@pytest.mark.parametrize(
    ("priority", "level"),
    [(100, 6), (99, 5), (50, 5), (49, 4), (10, 4), (9, 3), (0, 3), (-9, 3), (-10, 2), (-49, 2), (-50, 1), (-100, 1)],
)
def test_django_priority_maps_to_a_level(fq_settings, queue, priority, level):
    assert queue.get_task(add.using(priority=priority).enqueue(1, 1).id).priority == level


@pytest.mark.parametrize(("level", "priority"), [(6, 100), (5, 50), (4, 10), (3, 0), (2, -10), (1, -50)])
def test_level_maps_back_to_django(level, priority):
    assert to_django(level) == to_django(Priority(level)) == priority


def test_using_sets_tenant_retries_timeout_and_queue(fq_settings, queue):
    fq_settings.TASKS = {"default": {**fq_settings.TASKS["default"], "QUEUES": ["default", "emails"]}}
    bound = add.using(user="globex", max_retries=0, timeout=1.5, priority=Priority.HIGH, queue_name="emails")
    assert bound.priority == 10  # a Priority member means the level
    stored = queue.get_task(bound.enqueue(1, 2).id)
    assert (stored.user, stored.max_retries, stored.timeout, stored.priority, stored.queue) == (
        "globex",
        0,
        1.5,
        Priority.HIGH,
        "emails",
    )
    assert queue.get_task(add.using(priority=4).enqueue(1, 2).id).priority == Priority.NORMAL  # int: Django's scale
    assert queue.get_task(add.using(priority=Priority.CRITICAL).enqueue(1, 2).id).priority == 6


def test_cost_is_declared_by_task_or_using_and_stored(fq_settings, queue):
    assert queue.get_task(costly.enqueue().id).cost == 2000
    assert queue.get_task(add.using(cost=2.5).enqueue(1, 2).id).cost == 2.5
    assert queue.get_task(add.enqueue(1, 2).id).cost is None


@pytest.mark.parametrize("bad", [0, -5, True, "10", float("nan")])
def test_bad_cost_is_a_clear_error(bad):
    with pytest.raises(InvalidTask, match="cost must be a number of milliseconds"):
        add.using(cost=bad)


def test_seed_style_task_declares_level_and_retries(fq_settings, queue):
    fq_settings.FAIRQUEUE = {**fq_settings.FAIRQUEUE, "MAX_RETRIES": 7}  # so 3 can only come from the task
    conf.get_queue.cache_clear()
    stored = queue.get_task(seeded.enqueue(7).id)
    assert (stored.priority, stored.max_retries, stored.user, stored.func) == (4, 3, "default", seeded.module_path)


def test_queueapp_exports_task_and_priority_lazily():
    probe = (
        "import sys, queueapp; assert 'queueapp.tasks_api' not in sys.modules and 'django' not in sys.modules;"
        "from queueapp import task, Priority; from queueapp import tasks_api, engine;"
        "assert task is tasks_api.task and Priority is engine.Priority; print('ok')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).parents[2],
        env={"PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (proc.returncode, proc.stdout.strip()) == (0, "ok"), proc.stderr
    import queueapp

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        queueapp.nope  # noqa: B018


@pytest.mark.parametrize("delay", ["datetime", "timedelta"])
def test_run_after_defers(fq_settings, queue, delay):
    expected_ms = time.time() * 1000 + 300_000
    run_after = timezone.now() + timedelta(minutes=5) if delay == "datetime" else timedelta(minutes=5)
    result = add.using(run_after=run_after).enqueue(1, 2)
    stored = queue.get_task(result.id)
    assert result.status == TaskResultStatus.READY and stored.state == State.DEFERRED
    assert abs(stored.run_after - expected_ms) < 1000
    assert queue.pop("worker-1") is None


@pytest.mark.parametrize(
    ("args", "kwargs", "where"),
    [
        ((object(),), {}, r"argument\['args'\]\[0\] is a object"),
        ((1, [2, {3, 4}]), {}, r"argument\['args'\]\[1\]\[1\] is a set"),
        ((1,), {"b": datetime.now(UTC)}, r"argument\['kwargs'\]\['b'\] is a datetime"),
        (("x" * 70_000, 1), {}, "over the 65536-byte limit"),
    ],
)
def test_non_json_arguments_fail_and_store_nothing(fq_settings, queue, args, kwargs, where):
    with pytest.raises(InvalidTaskArguments, match=where) as caught:
        add.enqueue(*args, **kwargs)
    assert isinstance(caught.value, InvalidTask) and isinstance(caught.value, ValueError)
    with pytest.raises(InvalidTaskArguments, match=where):
        backend().enqueue_many(add, [((1, 2), {}), (args, kwargs)])
    assert queue.stats()["enqueued"] == 0


def test_result_after_a_successful_run(fq_settings):
    result = add.enqueue(2, 3)
    lease = conf.get_queue().pop("worker-1")
    assert lease.id == result.id and backend().get_result(result.id).status == TaskResultStatus.RUNNING
    lease.ack(runtime.execute(lease.task))
    result.refresh()
    fetched = add.get_result(result.id)
    for got in (result, fetched):
        assert (got.status, got.return_value, got.worker_ids, got.attempts) == (
            TaskResultStatus.SUCCESSFUL,
            5,
            ["worker-1"],
            1,
        )
        assert all(timezone.is_aware(d) for d in (got.enqueued_at, got.started_at, got.finished_at))
        assert got.enqueued_at <= got.started_at <= got.finished_at
    assert fetched.task == add and fetched.task.func is add.func and fetched.errors == []


def test_result_after_a_failure_without_retry(fq_settings):
    result = explode.enqueue("kaput")
    assert run_once().outcome == "dead"
    result.refresh()
    assert (result.status, result.attempts, len(result.errors)) == (TaskResultStatus.FAILED, 1, 1)
    assert result.errors[0].exception_class_path == "builtins.ValueError"
    assert result.errors[0].exception_class is ValueError and "ValueError: kaput" in result.errors[0].traceback
    with pytest.raises(ValueError, match="Task failed"):
        result.return_value  # noqa: B018


def test_result_through_retries_to_the_dead_letter_queue(fq_settings):
    fq_settings.FAIRQUEUE = {**fq_settings.FAIRQUEUE, "RETRY": {"BASE": 0.0, "JITTER": 0.0}}
    conf.get_queue.cache_clear()
    result = explode.using(max_retries=1).enqueue("again")
    assert run_once("w1", retry=True).outcome == "retry"
    result.refresh()
    assert (result.status, len(result.errors), result.worker_ids) == (TaskResultStatus.READY, 1, ["w1"])
    deadline = time.monotonic() + 5
    while not conf.get_queue().promote():
        assert time.monotonic() < deadline, "retry never became due"
        time.sleep(0.01)
    assert run_once("w2", retry=True).outcome == "dead"
    result.refresh()
    assert (result.status, result.worker_ids, result.attempts) == (TaskResultStatus.FAILED, ["w1", "w2"], 2)
    assert [e.exception_class_path for e in result.errors] == ["builtins.ValueError"] * 2
    assert "again" in result.errors[-1].traceback


def test_unregistered_path_yields_a_stand_in_without_importing(fq_settings, queue):
    path = "tests.never_imported_module.fn"
    pushed = queue.push(EngineTask(func=path, args=[1], user="acme")).id
    result = backend().get_result(pushed)
    assert (result.task.module_path, result.task.user, result.status, result.args) == (path, "acme", "READY", [1])
    assert "tests.never_imported_module" not in sys.modules


def test_reading_an_unregistered_result_does_not_register_its_path(fq_settings, queue):
    pushed = queue.push(EngineTask(func="tests.never_imported_module.other", user="acme")).id
    backend().get_result(pushed)
    with pytest.raises(UnknownTask):  # a worker must still dead-letter it as unknown_task, not run a stub
        runtime.execute(queue.get_task(pushed))


def test_task_get_result_checks_the_task(fq_settings):
    with pytest.raises(TaskResultDoesNotExist):
        backend().get_result("0123456789abcdef")
    result = add.enqueue(1, 2)
    assert add.get_result(result.id).id == result.id
    assert add.using(user="other").get_result(result.id).args == [1, 2]
    with pytest.raises(TaskResultMismatch, match="tests.site.test_backend.add"):
        explode.get_result(result.id)


def test_aenqueue_and_aget_result_round_trip(fq_settings, queue):
    async def scenario():
        result = await add.aenqueue(4, b=5)
        ready = await add.aget_result(result.id)
        run_once()
        await result.arefresh()
        with pytest.raises(TaskResultDoesNotExist):
            await backend().aget_result("0123456789abcdef")
        with pytest.raises(InvalidTaskArguments, match="is a set"):
            await add.aenqueue({1}, 2)
        return result, ready

    result, ready = asyncio.run(scenario())
    assert ready.status == TaskResultStatus.READY and ready.kwargs == {"b": 5}
    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, 9)
    assert queue.get_task(result.id).user == "acme" and queue.stats()["enqueued"] == 1


def test_enqueue_many_is_one_pipelined_push(fq_settings, queue, monkeypatch):
    engine, calls = conf.get_queue(), []
    real = engine.push_each
    monkeypatch.setattr(
        engine, "push_each", lambda task, sets, ids=None: calls.append(len(sets)) or real(task, sets, ids)
    )
    monkeypatch.setattr(engine, "push", lambda task: pytest.fail("push() called per task"))
    results = backend().enqueue_many(add, [((i, i), {}) for i in range(5)])
    assert calls == [5] and len({r.id for r in results}) == 5
    assert [queue.get_task(r.id).args for r in results] == [[i, i] for i in range(5)]
    assert queue.stats()["enqueued"] == 5


def big_batch() -> list[tuple[tuple, dict]]:
    from queueapp.backends import OVERLAP_MIN

    return [((i, i), {}) for i in range(OVERLAP_MIN + 6)]  # pushed from a thread while its results are built


def test_a_big_enqueue_many_is_in_redis_before_task_enqueued_is_sent(fq_settings, queue):
    from django.tasks.signals import task_enqueued

    seen = []

    def receiver(sender, task_result, **kwargs):  # the push must be done when the signal says so
        seen.append((task_result.id, queue.get_task(task_result.id)))

    task_enqueued.connect(receiver)
    try:
        results = backend().enqueue_many(add, big_batch())
    finally:
        task_enqueued.disconnect(receiver)
    assert len(results) == len(big_batch()) and all(r.status == TaskResultStatus.READY for r in results)
    assert [i for i, _ in seen] == [r.id for r in results]
    assert [stored.args for _, stored in seen] == [[i, i] for i in range(len(results))]
    assert queue.stats()["enqueued"] == len(results)


def test_a_big_enqueue_many_with_one_bad_call_pushes_nothing_and_sends_nothing(fq_settings, queue):
    from django.tasks.signals import task_enqueued

    seen = []
    task_enqueued.connect(seen.append)
    try:
        with pytest.raises(InvalidTaskArguments, match="is a set"):
            backend().enqueue_many(add, [*big_batch(), (({1}, 2), {})])
    finally:
        task_enqueued.disconnect(seen.append)
    assert seen == [] and queue.stats()["enqueued"] == 0


def test_a_big_enqueue_many_refused_by_redis_raises_and_sends_nothing(fq_settings, queue):
    """The refusal comes from the push script, on the push's own thread: it reaches the caller."""
    from django.tasks.signals import task_enqueued

    fq_settings.FAIRQUEUE = {**fq_settings.FAIRQUEUE, "REQUIRE_REGISTERED_TENANTS": True}
    conf.get_queue.cache_clear()
    seen = []
    task_enqueued.connect(seen.append)
    try:
        with pytest.raises(InvalidTask, match="'ghost' is not registered"):
            backend().enqueue_many(add.using(user="ghost"), big_batch())
    finally:
        task_enqueued.disconnect(seen.append)
    assert seen == [] and queue.stats()["enqueued"] == 0


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db
def test_check_passes_with_a_reachable_redis_and_reports_a_bad_prefix(fq_settings, monkeypatch):
    # the test server keeps nothing on disk: a warning (W002), only for `manage.py check`
    assert [e.id for e in backend().check()] == []
    monkeypatch.setattr("sys.argv", ["manage.py", "check"])
    assert [e.id for e in backend().check()] == ["fairqueue.W002"]
    call_command("check", stdout=io.StringIO())
    fq_settings.FAIRQUEUE = {**fq_settings.FAIRQUEUE, "PREFIX": "no-hash-tag"}
    assert [e.id for e in backend().check()] == ["fairqueue.E001", "fairqueue.W002"]


@pytest.mark.django_db
def test_check_reports_unreachable_redis_without_the_password(settings):
    settings.REDIS_URL = f"redis://u:secret@127.0.0.1:{closed_port()}/0"
    errors = backend().check()
    assert [(type(e), e.id) for e in errors] == [(Error, "fairqueue.E003")]
    assert "not reachable" in errors[0].msg and "u:***@127.0.0.1" in errors[0].msg
    assert "secret" not in errors[0].msg + str(errors[0].hint)
    with pytest.raises(SystemCheckError, match="fairqueue.E003") as caught:
        call_command("check")
    assert "secret" not in str(caught.value)


def test_check_reports_a_malformed_redis_url(settings):
    settings.REDIS_URL = "localhost:6379"
    assert [e.id for e in backend().check()] == ["fairqueue.E003"]
