"""Per-tenant limits (lib/limits.lua): a cap on running tasks across all workers and a
token-bucket rate, enforced inside the pop; a held tenant never idles a worker."""

from __future__ import annotations

import time

import pytest

from queueapp.engine import Ack, ConfigError, Task
from queueapp.engine.settings import TenantSettings


def fill(q, user, n, **kw):
    q.push_many([Task("demo.noop", args=[i], user=user, **kw) for i in range(n)])


def pops(q, n, worker="w"):
    out = []
    for _ in range(n):
        lease = q.pop(worker)
        if lease is None:
            break
        out.append(lease)
    return out


def users(leases):
    return [le.task.user for le in leases]


def test_cap_bounds_running_tasks_across_workers_and_others_keep_running(queue):
    queue.set_tenant(TenantSettings("capped", max_running=2))
    fill(queue, "capped", 20)
    fill(queue, "free", 20)
    leases = [le for w in ("w1", "w2", "w3") for le in pops(queue, 6, w)]
    assert users(leases).count("capped") == 2
    assert users(leases).count("free") == 16
    held = next(le for le in leases if le.task.user == "capped")
    held.ack(None)  # one slot of its cap is free again: the next pop may take it
    assert users(pops(queue, 1)) == ["capped"]
    assert users(pops(queue, 3)) == ["free", "free", "free"]


def test_a_capped_tenant_alone_leaves_the_pop_empty_not_blocked(queue):
    queue.set_tenant(TenantSettings("solo", max_running=1))
    fill(queue, "solo", 3)
    first = pops(queue, 3)
    assert len(first) == 1
    assert queue.ack_and_pop(first[0], None).task.user == "solo"  # ack frees it, the same call pops


def test_fail_release_and_expiry_all_free_a_cap_slot(queue):
    queue.set_tenant(TenantSettings("c", max_running=1))
    fill(queue, "c", 4, max_retries=5)
    lease = pops(queue, 1)[0]
    queue.fail(lease, RuntimeError("x"), retry=False)
    lease = pops(queue, 2)
    assert len(lease) == 1
    queue.release(lease[0])
    lease = pops(queue, 2)
    assert len(lease) == 1
    queue.heartbeat("w", [lease[0]], lease_seconds=0.2)
    time.sleep(0.4)
    assert queue.reap() == (1, 0)
    assert len(pops(queue, 2)) == 1


def test_pooled_round_never_leases_past_the_cap(queue):
    queue.set_tenant(TenantSettings("c", max_running=3))
    fill(queue, "c", 50)
    fill(queue, "d", 50)
    exchange = queue.ack_and_pop_many([], "w", 8)
    assert users(exchange.leases).count("c") == 3
    assert users(exchange.leases).count("d") == 5
    acks = [Ack.of(le, None) for le in exchange.leases if le.task.user == "c"][:2]
    exchange = queue.ack_and_pop_many(acks, "w", 8)
    assert users(exchange.leases).count("c") == 2


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_a_push_does_not_bring_a_held_tenant_back(queue, rclient, config):
    queue.set_tenant(TenantSettings("c", max_running=1))
    fill(queue, "c", 2)
    assert len(pops(queue, 5)) == 1
    assert rclient.zscore(config.keys.held(), "c") is not None
    fill(queue, "c", 5)
    assert rclient.zscore(config.keys.ready_all(), "c") is None
    assert pops(queue, 5) == []


def test_tasks_started_before_the_cap_do_not_strand_the_tenant(queue):
    fill(queue, "c", 6)
    early = pops(queue, 3)
    queue.set_tenant(TenantSettings("c", max_running=1))
    fill(queue, "other", 1)
    for le in early:
        le.ack(None)  # not counted (no `capped` mark): the cap starts with what starts after it
    got = pops(queue, 5)
    assert users(got).count("c") == 1 and users(got).count("other") == 1


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_phantom_running_members_are_dropped_at_the_recheck(queue, rclient, config):
    queue.set_tenant(TenantSettings("c", max_running=2))
    fill(queue, "c", 5)
    leases = pops(queue, 5)
    assert len(leases) == 2
    for le in leases:  # records gone while they ran: their leases never end through an ack
        rclient.zrem(config.keys.running(), le.id)
        rclient.delete(config.keys.task(le.id))
    assert pops(queue, 2) == []
    deadline = time.monotonic() + 10
    while not (got := pops(queue, 2)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(got) == 2  # the 1 s recheck found both members phantom


@pytest.mark.one_shard(
    "exact order across tenants, a property of one shard (docs/operations.md, fairness across shards)"
)
def test_rate_limit_spends_tokens_then_waits_for_the_next(queue):
    queue.set_tenant(TenantSettings("r", rate=4, burst=2))
    fill(queue, "r", 20)
    fill(queue, "other", 20)
    first = users(pops(queue, 6))
    assert first.count("r") == 2  # the burst
    assert first.count("other") == 4
    time.sleep(0.3)  # >= one token at 4/s
    assert users(pops(queue, 3)).count("r") >= 1


def test_changing_limits_lets_a_held_tenant_go(queue):
    queue.set_tenant(TenantSettings("c", max_running=1))
    fill(queue, "c", 3)
    assert len(pops(queue, 3)) == 1
    queue.set_tenant(TenantSettings("c", max_running=3))
    assert len(pops(queue, 3)) == 2
    queue.set_tenant(TenantSettings("c"))
    fill(queue, "c", 1)
    assert len(pops(queue, 3)) == 1


def test_limits_are_read_back_for_drift(queue):
    queue.set_tenant(TenantSettings("c", weight=2, max_running=4, rate=2.5, burst=7))
    assert queue.config_snapshot().tenants["c"] == TenantSettings("c", 2, False, 4, 2.5, 7)
    queue.set_tenant(TenantSettings("c", weight=2))
    assert queue.config_snapshot().tenants["c"] == TenantSettings("c", 2)


@pytest.mark.parametrize(
    "fields", [{"c|cap": "zero"}, {"c|cap": "0"}, {"c|rate": "x:y"}, {"c|rate": "5"}, {"c|tb": "nan:nan"}]
)
def test_hand_edited_limits_never_strand_a_tenant(queue, rclient, config, fields):
    queue.set_tenant(TenantSettings("c", rate=1000))
    rclient.hset(config.keys.weights(), mapping=fields)
    fill(queue, "c", 3)
    assert len(pops(queue, 3)) >= 1
    assert queue.config_snapshot().tenants["c"].user == "c"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_running": 0}, "max_running"),
        ({"max_running": 1.5}, "max_running"),
        ({"rate": 0}, "rate"),
        ({"rate": float("nan")}, "rate"),
        ({"rate": 1, "burst": 0}, "burst"),
        ({"burst": 3}, "needs a rate"),
    ],
)
def test_bad_limits_are_clear_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TenantSettings("c", **kwargs)


def test_lowering_a_cap_below_what_runs_holds_the_tenant_at_once(queue):
    queue.set_tenant(TenantSettings("c", max_running=5))
    fill(queue, "c", 10)
    assert len(pops(queue, 3)) == 3
    queue.set_tenant(TenantSettings("c", max_running=2))
    assert pops(queue, 3) == []


def test_repair_leaves_a_held_tenant_held(queue, rclient, config):
    queue.set_tenant(TenantSettings("c", max_running=1))
    fill(queue, "c", 3)
    assert len(pops(queue, 3)) == 1
    queue.repair_ready()
    assert rclient.zscore(config.keys.ready_all(), "c") is None
    assert pops(queue, 3) == []


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_an_empty_pop_says_when_the_next_hold_ends(queue, rclient, config):
    assert queue.pop("w") is None and queue.held_due_in is None  # nothing held: no hint
    queue.set_tenant(TenantSettings("r", rate=0.5, burst=1))
    fill(queue, "r", 3)
    assert len(pops(queue, 3)) == 1  # the token is spent: the tenant is held for 2 s
    assert 0 < queue.held_due_in <= 2
    exchange = queue.ack_and_pop_many([], "w", 4, None, None)
    assert exchange.leases == [] and 0 < exchange.held_due_in <= 2
    rclient.zadd(config.keys.held(), {"r": "-inf"})  # a hand edit: due now, but the bucket is not
    assert queue.pop("w") is None and 0 < queue.held_due_in <= 2  # held again until its token
    rclient.hset(config.keys.weights(), "r|tb", "1:0")  # a full bucket (and the hold due)
    rclient.zadd(config.keys.held(), {"r": "-inf"})
    assert queue.pop("w").task.user == "r"


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_holds_are_let_go_while_other_tenants_keep_the_workers_busy(queue, rclient, config):
    """The pop finds due holds through "|due" in cfg:weights (read with the tenant's settings)."""
    queue.set_tenant(TenantSettings("r", rate=5, burst=1))
    fill(queue, "r", 5)
    fill(queue, "busy", 200)
    assert users(pops(queue, 4)).count("r") == 1
    assert int(rclient.hget(config.keys.weights(), "|due")) == int(rclient.zscore(config.keys.held(), "r"))
    time.sleep(0.25)  # one token at 5/s
    assert users(pops(queue, 4)).count("r") >= 1  # let go, though "busy" always had work


@pytest.mark.one_shard("reads or plants its queue's keys by name")
@pytest.mark.parametrize("edit", ["lost", "late"])
def test_a_lost_or_late_due_mark_strands_no_tenant(queue, rclient, config, edit):
    """A hand edit or a partial restore drops "|due" (or sets it late): the next reap writes
    it again from `held`, so the held tenant is served while the others still have work."""
    queue.set_tenant(TenantSettings("r", rate=5, burst=1))
    fill(queue, "r", 5)
    fill(queue, "busy", 200)
    assert users(pops(queue, 2)).count("r") == 1
    if edit == "lost":
        rclient.hdel(config.keys.weights(), "|due")
    else:
        rclient.hset(config.keys.weights(), "|due", "99999999999999")
    time.sleep(0.25)
    assert users(pops(queue, 4)).count("r") == 0  # nothing tells the pop the hold has come
    queue.reap()
    assert users(pops(queue, 4)).count("r") >= 1


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_a_stale_due_mark_costs_one_look_and_is_cleared(queue, rclient, config):
    rclient.hset(config.keys.weights(), "|due", "1")  # nothing is held
    fill(queue, "a", 3)
    assert len(pops(queue, 2)) == 2
    assert rclient.hget(config.keys.weights(), "|due") is None


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_a_cap_hold_is_marked_and_the_mark_is_not_counted(queue, rclient, config):
    queue.set_tenant(TenantSettings("c", max_running=2))
    fill(queue, "c", 6)
    first = pops(queue, 5)
    assert len(first) == 2
    running = config.keys.running_of("c")
    assert rclient.sismember(running, "|held")
    queue.set_tenant(TenantSettings("c", max_running=3))  # a change looks again: 2 running < 3
    assert not rclient.sismember(running, "|held")
    assert len(pops(queue, 5)) == 1  # the third slot, and held again at 3
    first[0].ack(None)  # the lease end takes the task and the mark out with one SREM: let go
    assert len(pops(queue, 5)) == 1


def test_a_rate_hold_is_not_let_go_by_the_end_of_a_task(queue):
    queue.set_tenant(TenantSettings("c", max_running=5, rate=2, burst=1))
    fill(queue, "c", 4)
    first = pops(queue, 4)
    assert len(first) == 1
    first[0].ack(None)  # a cap slot is free, but there is no token before 0.5 s
    assert pops(queue, 4) == []
