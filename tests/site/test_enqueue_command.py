"""`manage.py enqueue`: what it stores in Redis, and how it refuses bad input."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from queueapp.engine import State

ECHO = "queueapp.demo.echo"


def enqueue(*argv: str) -> list[str]:
    out = io.StringIO()
    call_command("enqueue", *argv, stdout=out)
    return out.getvalue().split()


def test_prints_one_id_per_stored_task(fq_settings, queue):
    ids = enqueue(ECHO, "--user", "acme", "--args", "[1]", "--count", "3")
    assert len(ids) == len(set(ids)) == 3
    for task_id in ids:
        stored = queue.get_task(task_id)
        assert (stored.func, stored.user, stored.args, stored.kwargs) == (ECHO, "acme", [1], {})
        assert (stored.priority, stored.state) == (3, State.QUEUED)
    assert queue.stats()["enqueued"] == 3 and queue.tenant_queue("acme").total == 3


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5, 6])
def test_priority_is_the_level(fq_settings, queue, level):
    (task_id,) = enqueue(ECHO, "--user", "acme", "--priority", str(level))
    assert queue.get_task(task_id).priority == level


def test_kwargs_are_stored(fq_settings, queue):
    (task_id,) = enqueue(ECHO, "--user", "globex", "--kwargs", '{"value": {"n": [1, 2.5, "x"]}}')
    stored = queue.get_task(task_id)
    assert (stored.user, stored.args, stored.kwargs) == ("globex", [], {"value": {"n": [1, 2.5, "x"]}})


def test_delay_defers(fq_settings, queue):
    expected_ms = time.time() * 1000 + 60_000
    (task_id,) = enqueue(ECHO, "--user", "acme", "--delay", "60")
    stored = queue.get_task(task_id)
    assert stored.state == State.DEFERRED and abs(stored.run_after - expected_ms) < 1000
    assert queue.delayed().total == 1 and queue.pop("worker-1") is None


def test_a_large_count_spans_several_push_chunks(fq_settings, queue):
    ids = enqueue(ECHO, "--user", "acme", "--count", "1201")  # batch_chunk is 500
    assert len(set(ids)) == 1201 and queue.stats()["enqueued"] == 1201


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [ECHO[:-1] + "k", "--user", "acme"],
            r"Unknown task 'queueapp\.demo\.echk'.*Did you mean: queueapp\.demo\.echo",
        ),
        (
            ["os.system", "--user", "acme", "--args", '["touch /tmp/pwned"]'],
            r"Unknown task 'os\.system': not a registered",
        ),
        (["nothing.like.it", "--user", "acme"], r"Registered tasks: .*queueapp\.demo\.echo"),
        ([ECHO, "--user", "acme", "--args", "[1,"], "--args is not valid JSON"),
        ([ECHO, "--user", "acme", "--args", '{"value": 1}'], "--args must be a JSON array"),
        ([ECHO, "--user", "acme", "--kwargs", "[1]"], "--kwargs must be a JSON object"),
        ([ECHO, "--user", "acme", "--kwargs", "{value: 1}"], "--kwargs is not valid JSON"),
        ([ECHO, "--user", "acme", "--count", "0"], "--count must be at least 1"),
        ([ECHO, "--user", "a b"], "user 'a b' is not valid"),
        ([ECHO, "--user", "acme", "--priority", "7"], "invalid choice: 7"),
        ([ECHO], "the following arguments are required: --user"),
        ([ECHO, "--user", "acme", "--args", '["' + "x" * 70_000 + '"]'], "over the 65536-byte limit"),
    ],
)
def test_bad_input_is_a_command_error_and_stores_nothing(fq_settings, queue, argv, message):
    with pytest.raises(CommandError, match=message):
        enqueue(*argv)
    assert queue.stats()["enqueued"] == 0


@pytest.mark.parametrize("delay", ["nan", "1e12"])
def test_unusable_delay_is_a_command_error(fq_settings, queue, delay):
    with pytest.raises(CommandError, match="--delay"):
        enqueue(ECHO, "--user", "acme", "--delay", delay)
    assert queue.stats()["enqueued"] == 0
