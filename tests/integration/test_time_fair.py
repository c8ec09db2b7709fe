"""Time-fair mode (lib/charge.lua): a pop charges the task's cost / weight, settled at the
end of the attempt with the declared cost or the measured run time."""

from __future__ import annotations

import dataclasses
import time

import pytest

from queueapp.engine import Ack, EngineConfig, InvalidTask, Task
from queueapp.engine.settings import TenantSettings


@pytest.fixture
def timeq(make_queue, config):
    return make_queue(dataclasses.replace(config, fairness="time"))


def fill(q, user, n, **kw):
    q.push_many([Task("demo.noop", args=[i], user=user, **kw) for i in range(n)])


def drain(q, n, run=None):
    """Serve n tasks one at a time (ack, then the next pop), `run` sleeping as the task."""
    users = []
    lease = q.pop("w")
    while lease is not None and len(users) < n:
        users.append(lease.task.user)
        if run:
            run(lease)
        lease = q.ack_and_pop(lease, None)
    return users


@pytest.mark.one_shard(
    "exact order across tenants, a property of one shard (docs/operations.md, fairness across shards)"
)
def test_declared_costs_share_worker_time_not_task_counts(timeq):
    fill(timeq, "reports", 40, cost=100)
    fill(timeq, "webhooks", 2000, cost=1)
    served = drain(timeq, 1010)
    assert served.count("reports") in range(9, 12)  # 1010 ms of work: ~10 x 100 and ~1000 x 1
    assert served.count("webhooks") >= 998


@pytest.mark.one_shard(
    "exact order across tenants, a property of one shard (docs/operations.md, fairness across shards)"
)
def test_count_mode_ignores_cost(queue):
    fill(queue, "reports", 40, cost=100)
    fill(queue, "webhooks", 40, cost=1)
    served = drain(queue, 40)
    assert served.count("reports") == 20


@pytest.mark.one_shard(
    "exact order across tenants, a property of one shard (docs/operations.md, fairness across shards)"
)
def test_weights_divide_the_charge(timeq):
    timeq.set_tenant(TenantSettings("gold", weight=4))
    fill(timeq, "gold", 500, cost=10)
    fill(timeq, "basic", 500, cost=10)
    served = drain(timeq, 500)
    assert 3.8 <= served.count("gold") / served.count("basic") <= 4.2


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_measured_run_time_is_charged_and_averaged(timeq, rclient, config):
    fill(timeq, "slow", 20)
    fill(timeq, "fast", 400)

    def run(lease):
        if lease.task.user == "slow":
            time.sleep(0.06)  # at least 60 ms; the fast tasks measure 0 -> charged 1 ms

    served = drain(timeq, 150, run)
    # count-fair would give slow 75 of 150; a slow task costs at least 60 fast ones
    assert served.count("slow") <= 8
    avg = float(rclient.hget(config.keys.weights(), "slow|cost"))
    assert avg >= 30  # a running average, moving from 1 ms towards >= 60 ms
    # fast ones measure 0 ms, charged 1: the default, never written
    assert float(rclient.hget(config.keys.weights(), "fast|cost") or 1) < avg


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_the_average_goes_on_from_the_exact_average_the_pop_rounded(timeq, rclient, config):
    """The ack folds its measurement into the exact average the pop rounded (carried in the
    record's `ch`), not into the rounded charge: going on from the charge, a tenant whose
    average rounds back to the same charge stayed there for ever, settling every ack."""
    rclient.hset(config.keys.weights(), "t|cost", "10.4")
    fill(timeq, "t", 1)
    lease = timeq.pop("w")
    assert rclient.hget(config.keys.task(lease.id), "ch") == "10:1:10.4:all"  # charge:weight:average:set
    lease.ack(None)
    started, finished = map(int, rclient.hmget(config.keys.task(lease.id), "started_at", "finished_at"))
    actual = max(1, finished - started)  # what the ack measured (Redis TIME, whole ms)
    assert float(rclient.hget(config.keys.weights(), "t|cost")) == pytest.approx(10.4 + 0.25 * (actual - 10.4))


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_the_average_converges_to_what_the_tasks_take(timeq, rclient, config):
    rclient.hset(config.keys.weights(), "t|cost", "40")
    fill(timeq, "t", 60)
    drain(timeq, 60)  # noop tasks acked at once: a few ms each, however slow this machine is
    assert float(rclient.hget(config.keys.weights(), "t|cost")) < 8


def test_a_hand_edited_exact_average_falls_back_to_the_charge(timeq, rclient, config):
    fill(timeq, "t", 2)
    lease = timeq.pop("w")
    rclient.hset(config.keys.task(lease.id), "ch", "1:1:nan:all")
    lease.ack(None)
    assert timeq.get_task(lease.id).state == "succeeded"
    assert 0 < float(rclient.hget(config.keys.weights(), "t|cost") or 1) < 100


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_a_batch_of_acks_of_one_unmeasured_tenant(timeq, rclient, config):
    fill(timeq, "solo", 20)
    exchange = timeq.ack_and_pop_many([], "w", 8)
    assert len(exchange.leases) == 8
    time.sleep(0.02)
    exchange = timeq.ack_and_pop_many([Ack.of(le, None) for le in exchange.leases], "w", 8)
    assert exchange.acked == ["ok"] * 8 and len(exchange.leases) == 8
    assert float(rclient.hget(config.keys.weights(), "solo|cost")) > 5  # 8 measurements of >= 20 ms


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_pop_writes_its_charge_and_count_mode_writes_none(timeq, queue, rclient, config):
    fill(timeq, "a", 1, cost=25)
    lease = timeq.pop("w")
    assert rclient.hget(config.keys.task(lease.id), "ch") == "25:1::all"  # declared: no average
    lease.ack(None)
    fill(queue, "b", 1, cost=25)
    lease = queue.pop("w")
    assert rclient.hget(config.keys.task(lease.id), "ch") is None


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_a_failed_attempt_is_settled_too(timeq, rclient, config):
    fill(timeq, "a", 3, max_retries=0)
    fill(timeq, "b", 3)
    lease = timeq.pop("w")
    assert lease.task.user == "a"
    time.sleep(0.05)
    timeq.fail(lease, RuntimeError("boom"))
    # a's 1 ms estimate became >= 50 ms: b is served next, and again
    assert [timeq.pop("w").task.user for _ in range(2)] == ["b", "b"]
    assert float(rclient.hget(config.keys.weights(), "a|cost")) > 1


def test_hand_edited_charge_fields_never_break_an_ack(timeq, rclient, config):
    rclient.set(config.prefix + ":ready:not-a-zset", "x")
    for mark in ["x1", "x1:1::all", "5:-3::garbage", "5:0:1:x", "5:-3:inf:not-a-zset", "5:1:1:", ":::", "5"]:
        fill(timeq, "a", 1)
        lease = timeq.pop("w")
        rclient.hset(config.keys.task(lease.id), "ch", mark)
        lease.ack(None)
        assert timeq.get_task(lease.id).state == "succeeded", mark
    fill(timeq, "a", 2)
    lease = timeq.pop("w")
    rclient.hset(config.keys.task(lease.id), "ch", "1:1:1:not-a-zset")
    timeq.fail(lease, RuntimeError("x"))  # the failure settles through the same field
    assert timeq.get_task(lease.id).state in ("deferred", "dead")


def test_a_record_an_older_version_charged_is_acked_unsettled(timeq, rclient, config):
    """Before `ch`, the pop wrote charge, cw and cset: such a record, in flight across the
    upgrade, is acked; its one charge is not corrected."""
    fill(timeq, "a", 1)
    lease = timeq.pop("w")
    rclient.hdel(config.keys.task(lease.id), "ch")
    rclient.hset(config.keys.task(lease.id), mapping={"charge": "1", "cw": "1", "cset": config.keys.ready_all()})
    lease.ack(None)
    assert timeq.get_task(lease.id).state == "succeeded"


def test_broken_weight_or_cost_in_redis_keeps_the_rotation(timeq, rclient, config):
    rclient.hset(config.keys.weights(), "a", "0")
    rclient.hset(config.keys.weights(), "b|cost", "nonsense")
    fill(timeq, "a", 4)
    fill(timeq, "b", 4)
    assert sorted(drain(timeq, 8)) == ["a"] * 4 + ["b"] * 4


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_deleting_a_tenant_forgets_its_average(timeq, rclient, config):
    fill(timeq, "gone", 1)
    drain(timeq, 1, lambda lease: time.sleep(0.02))
    assert rclient.hexists(config.keys.weights(), "gone|cost")
    timeq.set_tenants([], delete=["gone"])
    assert not rclient.hexists(config.keys.weights(), "gone|cost")


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), True, "5", 10**9])
def test_bad_costs_are_refused_at_push(queue, bad):
    with pytest.raises(InvalidTask, match="cost must be"):
        queue.push(Task("demo.noop", cost=bad))


def test_cost_round_trips_through_the_record(queue):
    queue.push(Task("demo.noop", id="c1", cost=2.5))
    assert queue.get_task("c1").cost == 2.5


def test_bad_mode_is_refused():
    with pytest.raises(ValueError, match="fairness must be one of count, time"):
        EngineConfig(fairness="fair")
