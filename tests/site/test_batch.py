"""Issue 14: queueapp.batch(), the public multi-tenant batch API: many tasks, each with its
own tenant and options, in one round trip (sync and async); nothing pushed when the block
raises or an argument is not JSON; task_enqueued once per task after the push. And
get_queue(): the engine client the settings configure. Real Redis."""

from __future__ import annotations

import asyncio

import pytest
from django.tasks.signals import task_enqueued

import queueapp
from queueapp.backends import InvalidTaskArguments
from queueapp.demo import echo, noop
from queueapp.engine import Priority, State

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fq_settings")]


def test_one_batch_many_tenants_and_options_one_round_trip(queue, monkeypatch):
    import redis

    with queueapp.batch() as warm:  # connects and loads the Functions library first
        warm.enqueue(noop.using(user="warm"))
    sent = []
    original = redis.connection.AbstractConnection.send_packed_command
    monkeypatch.setattr(
        redis.connection.AbstractConnection,
        "send_packed_command",
        lambda conn, command, check_health=True: sent.append(1) or original(conn, command, check_health),
    )
    with queueapp.batch() as b:
        results = [b.enqueue(echo.using(user=f"t{i % 3}", priority=10 * (i % 2)), i) for i in range(30)]
        urgent = b.enqueue(noop.using(user="vip", priority=100))
    assert len(sent) == 1 and len(b) == 31
    assert all(r.status == "READY" for r in results)
    stored = [queue.get_task(r.id) for r in results]
    assert [t.user for t in stored] == [f"t{i % 3}" for i in range(30)]
    assert [t.args for t in stored] == [[i] for i in range(30)]
    assert {t.priority for t in stored} == {Priority.NORMAL, Priority.HIGH}
    assert queue.get_task(urgent.id).priority == Priority.CRITICAL and queue.stats()["queued"] == 32


def test_nothing_is_pushed_when_the_block_raises(queue):
    with pytest.raises(ZeroDivisionError), queueapp.batch() as b:
        b.enqueue(echo.using(user="acme"), 1)
        raise ZeroDivisionError  # anything the block raises
    assert queue.stats()["enqueued"] == 0


def test_an_argument_that_is_not_json_fails_its_call_and_nothing_is_pushed(queue):
    with pytest.raises(InvalidTaskArguments, match="is a set"), queueapp.batch() as b:
        b.enqueue(echo.using(user="acme"), 1)
        b.enqueue(echo.using(user="acme"), {1, 2})
    assert queue.stats()["enqueued"] == 0


def test_task_enqueued_is_sent_once_per_task_after_the_push():
    got = []

    def on_enqueued(sender, task_result, **kwargs):
        got.append(task_result.id)

    task_enqueued.connect(on_enqueued)
    try:
        with queueapp.batch() as b:
            ids = [b.enqueue(echo.using(user="acme"), i).id for i in range(3)]
            assert got == []
    finally:
        task_enqueued.disconnect(on_enqueued)
    assert got == ids


def test_async_batch(queue):
    async def go():
        async with queueapp.batch() as b:
            for i in range(5):
                b.enqueue(echo.using(user=f"a{i}"), i)
        return b.results

    results = asyncio.run(go())
    assert [queue.get_task(r.id).state for r in results] == [State.QUEUED] * 5


def test_a_pushed_batch_takes_no_more():
    with queueapp.batch() as b:
        b.enqueue(echo.using(user="acme"), 1)
    with pytest.raises(RuntimeError, match="pushed already"):
        b.enqueue(echo.using(user="acme"), 2)


def test_get_queue_is_the_configured_engine_client(queue, prefix):
    client = queueapp.get_queue()
    assert client.config.prefix == prefix
    with queueapp.batch() as b:
        r = b.enqueue(echo.using(user="acme"), "x")
    assert client.get_task(r.id).args == ["x"]
