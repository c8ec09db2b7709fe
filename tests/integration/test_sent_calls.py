"""A call written to a dedicated client's connection and read later (engine/ahead.py), as a
one-slot worker sends its ack fused with the next pop while a task runs. Real Redis: the
reply read after other work, a connection killed before the call ran, the Functions library
flushed, and a client that cannot send this way."""

from __future__ import annotations

import pytest
import redis

from queueapp.engine import Task
from queueapp.engine.errors import StaleLease
from tests.processes import wait_for

pytestmark = [
    pytest.mark.one_shard("a plain client's own connection"),
    pytest.mark.single_redis("a client holding one connection (a cluster client routes per call)"),
]


def tasks(n: int, user: str = "acme") -> list[Task]:
    return [Task("demo.noop", args=[i], user=user) for i in range(n)]


def test_a_sent_ack_and_pop_is_read_after_other_work(queue):
    queue.push_many(tasks(3))
    d = queue.dedicated()
    lease = d.pop("w1")
    sent = d.send_ack_and_pop(lease, {"n": 1})
    # applied while the caller goes on (seen from another connection before result() is called)
    wait_for(lambda: queue.stats()["succeeded"] == 1, timeout=10, what="the sent ack applied")
    nxt = sent.result()
    assert nxt is not None and nxt.task.args == [1] and nxt.queue is d
    assert queue.get_task(lease.id).return_value == {"n": 1}
    ahead = d.send_pop("w1")
    assert ahead.result().task.args == [2] and queue.stats()["running"] == 2
    d.close()


def test_a_sent_call_whose_connection_dies_before_it_ran_is_sent_again(queue, rclient):
    """The server holds the call (CLIENT PAUSE WRITE) and the connection is killed: the call
    never ran; result() sends it again on a new connection, and it applies once."""
    queue.push_many(tasks(2))
    d = queue.dedicated()
    lease = d.pop("w1")
    connection_id = d.redis.client_id()
    rclient.execute_command("CLIENT", "PAUSE", 300, "WRITE")
    sent = d.send_ack_and_pop(lease, "done")
    assert rclient.client_kill_filter(_id=connection_id) == 1
    nxt = sent.result()
    assert nxt is not None and nxt.task.args == [1]
    stats = queue.stats()
    assert (stats["succeeded"], stats["running"], stats["queued"]) == (1, 1, 0)
    assert queue.get_task(lease.id).return_value == "done"
    d.close()


def test_a_sent_call_after_the_library_was_flushed_loads_it_and_runs(queue, rclient):
    queue.push_many(tasks(1))
    d = queue.dedicated()
    d.stats()  # the connection made
    rclient.function_flush()
    lease = d.send_pop("w1").result()
    assert lease is not None and lease.task.args == [0] and queue.stats()["running"] == 1
    d.close()


def test_a_sent_ack_of_a_lost_lease_raises_stale_when_read(queue):
    queue.push_many(tasks(1))
    d = queue.dedicated()
    lease = d.pop("w1")
    queue.release(lease)  # the lease ends elsewhere first
    sent = d.send_ack_and_pop(lease, None)
    with pytest.raises(StaleLease):
        sent.result()
    assert queue.stats()["queued"] == 1 and queue.stats()["succeeded"] == 0
    d.close()


def test_a_result_that_is_not_json_raises_before_anything_is_sent(queue):
    from queueapp.engine import InvalidTask

    queue.push_many(tasks(1))
    d = queue.dedicated()
    lease = d.pop("w1")
    with pytest.raises(InvalidTask):
        d.send_ack_and_pop(lease, object())
    assert d.ack_and_pop(lease, None) is None and queue.stats()["succeeded"] == 1  # the connection is clean
    d.close()


def test_a_shared_client_sends_nothing_this_way(queue):
    """Only a client holding its own connection writes and reads later; the shared one says so."""
    queue.push_many(tasks(1))
    assert queue.send_pop("w1") is None
    assert queue.stats()["running"] == 0 and queue.pop("w1") is not None


def test_a_plan_that_fails_after_its_sent_call_goes_on_from_there_when_asked_again(queue, raw, prefix):
    """A sent plan of two calls whose second fails (a RedisError the worker retries): asking
    again resumes at the second call, the first call's reply reaches the plan once."""
    from queueapp.engine.call import command

    first, second = f"{prefix}:first", f"{prefix}:second"
    raw.set(first, 0)
    raw.set(second, "not a number")

    def plan():
        a = yield command("INCR", first)
        b = yield command("INCR", second)
        return a, b

    d = queue.dedicated()
    sent = d._sent(plan())
    with pytest.raises(redis.ResponseError):
        sent.result()
    raw.set(second, 5)
    assert sent.result() == (1, 6) and sent.result() == (1, 6)
    assert raw.get(first) == "1"  # sent once, read once
    d.close()
