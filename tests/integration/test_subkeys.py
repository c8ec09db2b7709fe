"""Sub-keys (lua/lib/subkeys.lua): fair order among a tenant's own users or projects,
inside the tenant's share, which does not grow with the number of sub-keys."""

from __future__ import annotations

import pytest

from queueapp.engine import InvalidTask, Priority, Task
from queueapp.engine.settings import TenantSettings


def push(q, user, n, subkey=None, **kw):
    q.push_many([Task("demo.noop", args=[i], user=user, subkey=subkey, **kw) for i in range(n)])


def serve(q, n):
    out = []
    for _ in range(n):
        lease = q.pop("w")
        if lease is None:
            break
        out.append((lease.task.user, lease.task.subkey))
        lease.ack(None)
    return out


def test_a_quiet_sub_key_is_served_next_not_after_the_backlog(queue):
    push(queue, "acme", 200, "bulk")
    serve(queue, 10)
    push(queue, "acme", 3, "urgent")
    order = [s for _, s in serve(queue, 8)]
    assert order[:6] == ["bulk", "urgent"] * 3  # it ties with the head (ids are time-ordered) and alternates


def test_sub_keys_round_robin_inside_the_tenant(queue):
    for s in ("p1", "p2", "p3"):
        push(queue, "acme", 30, s)
    order = [s for _, s in serve(queue, 30)]
    assert all(order.count(s) == 10 for s in ("p1", "p2", "p3"))
    assert all(order[i : i + 3].count(order[i]) == 1 for i in range(0, 30, 3))  # one of each per round


def test_many_sub_keys_gain_no_share_sybil(queue):
    for i in range(100):
        push(queue, "sybil", 20, f"k{i}")
    push(queue, "honest", 2000, "only")
    order = [u for u, _ in serve(queue, 1000)]
    assert abs(order.count("sybil") - order.count("honest")) <= 1


@pytest.mark.one_shard(
    "exact order across tenants, a property of one shard (docs/operations.md, fairness across shards)"
)
def test_weights_still_set_the_tenants_share(queue):
    queue.set_tenant(TenantSettings("gold", weight=3))
    for i in range(30):
        push(queue, "gold", 20, f"k{i}")
    push(queue, "basic", 600)
    order = [u for u, _ in serve(queue, 400)]
    assert 2.9 <= order.count("gold") / order.count("basic") <= 3.1


def test_tasks_without_a_sub_key_are_one_more_sub_key_once_the_tenant_uses_them(queue, rclient, config):
    push(queue, "acme", 50)  # before any sub-key: plain scores, nothing stored
    assert not rclient.exists(config.keys.subs("acme"))
    push(queue, "acme", 50, "p1")
    push(queue, "acme", 50)
    order = [s for _, s in serve(queue, 150)]
    assert order[:50] == [None] * 50  # the plain ones were ahead (enqueued first)
    rest = order[50:70]
    assert rest.count("p1") == 10 and rest.count(None) == 10  # then '' and p1 alternate


def test_priorities_still_order_a_sub_keyed_tenant(queue):
    push(queue, "acme", 20, "p1", priority=Priority.LOW)
    push(queue, "acme", 3, "p2", priority=Priority.HIGH)
    push(queue, "acme", 2, "p3", priority=Priority.CRITICAL)
    order = [s for _, s in serve(queue, 5)]
    assert order == ["p3", "p3", "p2", "p2", "p2"]


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_retries_and_requeues_rejoin_the_rotation(queue, rclient, config):
    push(queue, "acme", 100, "bulk")
    queue.push(Task("demo.noop", id="flaky", user="acme", subkey="rare", max_retries=1))
    first = [queue.pop("w") for _ in range(4)]
    flaky = next(le for le in first if le.id == "flaky")
    for le in first:
        if le is not flaky:
            le.ack(None)
    queue.fail(flaky, RuntimeError("x"))
    rclient.zadd(config.keys.delayed(), {"flaky": 0})  # due now
    assert queue.promote() == 1
    order = [(le.id if (le := queue.pop("w")) else None) for _ in range(3)]
    assert "flaky" in order[:2]


def test_lost_or_garbled_tags_keep_a_sound_order(queue, rclient, config):
    push(queue, "acme", 30, "p1")
    rclient.hset(config.keys.subs("acme"), mapping={"~max": "nan", "p1": "garbage"})
    push(queue, "acme", 3, "p2")
    rclient.delete(config.keys.subs("acme"))
    push(queue, "acme", 3, "p3")
    order = [s for _, s in serve(queue, 36)]
    assert sorted(order) == sorted(["p1"] * 30 + ["p2"] * 3 + ["p3"] * 3)
    assert order.index("p2") < 8 and order.index("p3") < 8


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_deleting_a_tenant_forgets_its_sub_keys(queue, rclient, config):
    queue.set_tenant(TenantSettings("acme"))
    push(queue, "acme", 2, "p1")
    assert rclient.exists(config.keys.subs("acme"))
    queue.set_tenants([], delete=["acme"])
    assert not rclient.exists(config.keys.subs("acme"))


@pytest.mark.parametrize("bad", ["", "has space", "x" * 129, "a|b"])
def test_bad_sub_keys_are_refused(queue, bad):
    with pytest.raises(InvalidTask, match="subkey"):
        queue.push(Task("demo.noop", subkey=bad))


def test_the_sub_key_round_trips(queue):
    queue.push(Task("demo.noop", id="s1", subkey="project-7"))
    assert queue.get_task("s1").subkey == "project-7"
