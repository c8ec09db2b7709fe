"""The enqueue path's shortcuts (backends.py) behave as the long way round: validation cached
per function, one copy per using(), TaskResult built without normalize_json, the signal."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from enum import IntEnum

import pytest
from django.tasks import TaskResult, TaskResultStatus, task_backends
from django.tasks import task as django_task
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.exceptions import InvalidTask
from django.tasks.signals import task_enqueued
from django.utils import timezone

from queueapp import Priority
from queueapp.backends import FairQueueBackend, FairTask, ready_result


@django_task(user="acme", max_retries=2)
def add(a, b):
    return a + b


class Level(IntEnum):
    HIGH = 4


def tampered(**fields):
    task = add.using(user="acme")
    for name, value in fields.items():
        object.__setattr__(task, name, value)
    return task


def message(check, task):
    with pytest.raises(InvalidTask) as caught:
        check(task)
    return str(caught.value)


@pytest.mark.parametrize(
    "fields",
    [
        {"priority": 101},
        {"priority": -101},
        {"priority": 1.5},
        {"run_after": datetime(2030, 1, 1)},  # noqa: DTZ001
        {"queue_name": "nope"},
        {"priority": 500, "queue_name": "nope"},  # the first failing check wins, as in Django
        {"run_after": datetime(2030, 1, 1), "queue_name": "nope"},  # noqa: DTZ001
    ],
)
@pytest.mark.parametrize("flags", [{}, {"supports_priority": False}, {"supports_defer": False}])
def test_cached_validation_says_what_django_says(fields, flags):
    backend = FairQueueBackend("default", {})
    for name, value in flags.items():
        setattr(backend, name, value)
    task = tampered(**fields)
    backend.validate_task(add)  # the function is known: the options-only path
    assert message(backend.validate_task, task) == message(lambda t: BaseTaskBackend.validate_task(backend, t), task)


def test_function_checks_follow_the_task_not_the_cache(fq_settings):
    bad = tampered(takes_context=True)  # add's first argument is not `context`
    assert "does not have a first argument of 'context'" in message(lambda t: t.enqueue(1, 2), bad)

    def local(a):
        return a

    for _ in range(2):  # a refusal is never remembered as a pass
        assert "module level" in message(lambda f: FairTask(func=f), local)


def test_using_makes_the_same_task_as_replace():
    moment = timezone.now() + timedelta(minutes=1)
    got = add.using(priority=Priority.HIGH, queue_name="default", run_after=moment, user="globex", timeout=2.5)
    assert got == replace(add, priority=10, run_after=moment, user="globex", timeout=2.5)
    assert type(got) is FairTask and got.max_retries == 2 and add.user == "acme"
    assert add.using() == add and add.using() is not add


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ([1, "x", 2.5, None, True], {"b": 3}),
        ([], {}),
        ([(1, 2)], {"b": [3, (4,)]}),  # tuples inside: normalize_json makes lists
        ([Level.HIGH], {"b": {"c": Level.HIGH}}),
    ],
)
def test_ready_result_equals_the_constructed_one(args, kwargs):
    got = ready_result(add, "0123456789abcdef", list(args), dict(kwargs), "default")
    expected = TaskResult(
        task=add,
        id="0123456789abcdef",
        status=TaskResultStatus.READY,
        enqueued_at=got.enqueued_at,
        started_at=None,
        last_attempted_at=None,
        finished_at=None,
        args=list(args),
        kwargs=dict(kwargs),
        backend="default",
        errors=[],
        worker_ids=[],
    )
    assert type(got) is TaskResult and got == expected and repr(got) == repr(expected)
    assert timezone.is_aware(got.enqueued_at) and got.errors == [] and got.worker_ids == []
    with pytest.raises(ValueError, match="not finished"):
        got.return_value  # noqa: B018


def test_a_receiver_connected_later_gets_the_signal(fq_settings):
    seen = []

    def receiver(sender, task_result, **kwargs):
        seen.append((sender, task_result.id))

    task_enqueued.connect(receiver)
    try:
        result = add.using(user="globex").enqueue(1, 2)
        many = task_backends["default"].enqueue_many(add, [((3, 4), {})])
    finally:
        task_enqueued.disconnect(receiver)
    assert seen == [(FairQueueBackend, result.id), (FairQueueBackend, many[0].id)]
    add.enqueue(5, 6)
    assert len(seen) == 2
