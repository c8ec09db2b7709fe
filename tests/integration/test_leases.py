"""Leases: tokens fence every outcome; heartbeat renews; reaper recovers; release."""

from __future__ import annotations

import dataclasses
import time

import pytest

from queueapp.engine import StaleLease, State, Task, TaskNotFound
from queueapp.engine.settings import WorkerReport


@pytest.fixture
def short(make_queue, config):
    """Leases of 100 ms, so expiry is testable without waiting long."""
    return make_queue(dataclasses.replace(config, lease_seconds=0.1))


def push(q, user="acme", **kw):
    return q.push(Task("demo.noop", user=user, **kw)).id


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_pop_records_the_lease_in_the_same_step(queue, raw, prefix):
    task_id = push(queue)
    lease = queue.pop("w1")
    deadline = raw.zscore(f"{prefix}:running", task_id)
    assert deadline is not None and deadline > time.time() * 1000
    assert raw.hget(f"{prefix}:task:{task_id}", "lease_token") == lease.token
    assert queue.stats()["running"] == 1


def test_stale_token_cannot_ack_fail_or_release(queue):
    push(queue)
    lease = queue.pop("w1")
    forged = dataclasses.replace(lease, token="not-the-token")
    for action in (forged.ack, forged.fail, forged.release):
        with pytest.raises(StaleLease):
            action()
    lease.ack("ok")
    with pytest.raises(StaleLease):  # a second ack of a finished task
        lease.ack("again")
    assert queue.get_task(lease.id).return_value == "ok"


def test_ack_of_an_unknown_task_is_not_found(queue):
    push(queue)
    lease = queue.pop("w1")
    ghost = dataclasses.replace(lease, task=dataclasses.replace(lease.task, id="nope"))
    with pytest.raises(TaskNotFound):
        ghost.ack()


def test_expired_lease_is_reaped_and_redelivered_with_a_new_token(short):
    task_id = push(short)
    first = short.pop("w1")
    time.sleep(0.15)
    assert short.reap() == (1, 0)
    assert short.reap() == (0, 0)  # idempotent
    second = short.pop("w2")
    assert second.id == task_id and second.token != first.token
    assert second.task.deliveries == 2
    with pytest.raises(StaleLease):  # the worker that lost the lease cannot write
        first.ack("late")
    second.ack("fresh")
    task = short.get_task(task_id)
    assert task.return_value == "fresh" and task.worker_ids == ["w1", "w2"]


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_heartbeat_renews_leases_and_reports_lost_ones(queue, raw):
    """Both deadlines are set in the past, as after a long pause; only the renewed lease survives
    the reaper (no sleep shorter than a lease: that raced a loaded machine)."""
    push(queue)
    push(queue)
    kept, lost = queue.pop("w1"), queue.pop("w1")
    running = queue.config.keys.running()
    raw.zadd(running, {kept.id: 0, lost.id: 0})
    assert queue.heartbeat("w1", [kept]) == []
    assert raw.zscore(running, kept.id) > queue.redis_time_ms()  # renewed: a full lease from now
    assert queue.reap() == (1, 0)  # only the unrenewed one expired
    assert queue.heartbeat("w1", [kept, lost]) == [lost.id]
    kept.ack()


def test_heartbeat_reports_the_worker(queue):
    sent = WorkerReport("w1", 0, 0, host="h", pid=42, current=("a",), ttl_seconds=11)
    queue.heartbeat("w1", [], sent)
    (report,) = queue.workers()
    assert (report.worker, report.pid, report.host, report.current) == ("w1", 42, "h", ("a",))
    assert report.is_alive() and report.observed_ms - report.last_seen_ms < 5_000
    assert not report.is_alive(report.last_seen_ms + 11_000)  # the one definition of alive: the report TTL
    assert 0 < queue.redis.ttl(queue.config.keys.worker_info("w1")) <= 11


def test_task_that_keeps_losing_its_worker_is_dead_lettered(short):
    """A poison pill (kills its worker every time) reaches the DLQ after max_deliveries."""
    task_id = push(short, max_deliveries=3)
    for delivery in range(1, 4):
        lease = short.pop("w1")
        assert lease.task.deliveries == delivery
        time.sleep(0.12)
        short.reap()
    assert short.pop("w1") is None
    task = short.get_task(task_id)
    assert task.state == State.DEAD and task.dead_reason == "lease_expired"
    assert [t.id for t in short.dead_letters().items] == [task_id]
    stats = short.stats()
    assert stats["expired"] == 3 and stats["dead"] == 1 and stats["running"] == 0


def test_reaped_critical_task_goes_back_to_the_head(short):
    first = push(short, priority=6)
    push(short, priority=6)
    short.pop("w1")
    time.sleep(0.12)
    short.reap()
    assert short.pop("w1").id == first


def test_release_returns_the_task_at_once_without_counting_a_delivery(queue):
    first = push(queue)
    push(queue)
    lease = queue.pop("w1")
    lease.release()
    again = queue.pop("w2")
    assert again.id == first and again.task.deliveries == 1
    assert queue.stats()["released"] == 1


def test_reap_is_bounded_per_call(short):
    for _ in range(5):
        push(short)
    for _ in range(5):
        short.pop("w1")
    time.sleep(0.12)
    assert short.reap(limit=2) == (2, 0)
    assert short.reap(limit=10) == (3, 0)


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_ack_stores_the_result_with_a_ttl(queue, raw, prefix):
    task_id = push(queue, result_ttl=60)
    queue.pop("w1").ack({"total": 3})
    task = queue.get_task(task_id)
    assert task.state == State.SUCCEEDED and task.return_value == {"total": 3}
    assert 0 < raw.ttl(f"{prefix}:task:{task_id}") <= 60
    assert raw.zscore(f"{prefix}:running", task_id) is None


@pytest.mark.single_redis("counts commands in one server's INFO commandstats")
@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_ack_and_pop_is_one_script_call(queue, rclient):
    """(Round trips are pinned in test_round_trips.py.)"""
    for _ in range(4):
        push(queue)
    lease = queue.pop("w1").ack_and_pop()
    before = rclient.info("commandstats").get("cmdstat_fcall", {}).get("calls", 0)
    nxt = lease.ack_and_pop("r1")
    after = rclient.info("commandstats")["cmdstat_fcall"]["calls"]
    assert after - before == 1
    assert nxt is not None and nxt.id != lease.id
    assert queue.get_task(lease.id).return_value == "r1"
    assert nxt.ack_and_pop().ack_and_pop() is None
