"""The starvation bounds docs/architecture.md writes down (Fairness), checked on the engine."""

from __future__ import annotations

import dataclasses
import math

import pytest

from queueapp.engine import Priority, Task
from queueapp.engine.settings import TenantSettings


def fill(q, user, n, **kw):
    q.push_many([Task("demo.noop", args=[i], user=user, **kw) for i in range(n)])


def served(q, n):
    out = []
    lease = q.pop("w")
    while lease is not None and len(out) < n:
        out.append(lease.task.user)
        lease = q.ack_and_pop(lease, None)
    if lease is not None:
        lease.ack(None)
    return out


def gaps(order, user):
    """For each pair of `user`'s consecutive services, who was served between them."""
    at = [i for i, u in enumerate(order) if u == user]
    return [order[a + 1 : b] for a, b in zip(at, at[1:], strict=False)]


@pytest.mark.parametrize("mode", ["count", "time"])
def test_a_tenant_that_gets_work_waits_at_most_one_task_of_each_other(make_queue, config, mode):
    q = make_queue(dataclasses.replace(config, fairness=mode))
    others = [f"busy{i}" for i in range(12)]
    for i, u in enumerate(others):
        q.set_tenant(TenantSettings(u, weight=1 + i % 4))
        fill(q, u, 60, cost=10)
    served(q, 97)  # a while into the rotation
    fill(q, "late", 3, cost=10)
    before = served(q, 13)
    first = before.index("late")
    assert first <= len(others)
    assert len(set(before[:first])) == first  # no other tenant twice before it


@pytest.mark.parametrize("mode", ["count", "time"])
def test_between_two_tasks_of_a_tenant_each_other_starts_at_most_its_weight_ratio_plus_one(make_queue, config, mode):
    q = make_queue(dataclasses.replace(config, fairness=mode))
    weights = {"w1": 1, "w2": 2, "w5": 5, "w7": 7}
    for u, w in weights.items():
        q.set_tenant(TenantSettings(u, weight=w))
        fill(q, u, 400, cost=10)
    order = served(q, 600)
    for i, wi in weights.items():
        for between in gaps(order, i):
            for j, wj in weights.items():
                if j != i:
                    assert between.count(j) <= math.ceil(wj / wi) + 1, (i, j, between)


def test_time_mode_bounds_worker_time_not_task_count(make_queue, config):
    q = make_queue(dataclasses.replace(config, fairness="time"))
    fill(q, "slow", 50, cost=200)
    fill(q, "fast", 3000, cost=2)
    order = served(q, 1200)
    for between in gaps(order, "slow"):
        assert sum(2 for u in between if u == "fast") <= 200 + 2  # w_j / w_i x 200 ms + one task


def test_a_very_low_task_waits_at_most_four_aging_windows_behind_newer_work(make_queue, config):
    import time

    q = make_queue(dataclasses.replace(config, aging_seconds=0.05))
    q.push(Task("demo.noop", id="old", user="t", priority=Priority.VERY_LOW))
    time.sleep(0.25)  # more than 4 windows
    q.push_many([Task("demo.noop", user="t", priority=Priority.VERY_HIGH) for _ in range(20)])
    assert q.pop("w").id == "old"


@pytest.mark.one_shard(
    "exact order across tenants, a property of one shard (docs/operations.md, fairness across shards)"
)
def test_critical_is_strict_inside_its_tenant_only(queue):
    fill(queue, "t", 5)
    fill(queue, "t", 30, priority=Priority.CRITICAL)
    fill(queue, "other", 30)
    order = []
    for _ in range(40):
        lease = queue.pop("w")
        order.append((lease.task.user, lease.task.priority))
        lease.ack(None)
    mine = [p for u, p in order if u == "t"]
    assert mine[:20] == [Priority.CRITICAL] * 20  # t's own normal tasks wait
    assert sum(1 for u, _ in order if u == "other") == 20  # the other tenant is not delayed


@pytest.mark.one_shard(
    "exact order across tenants, a property of one shard (docs/operations.md, fairness across shards)"
)
def test_a_held_tenant_delays_nobody(queue):
    queue.set_tenant(TenantSettings("capped", max_running=1))
    fill(queue, "capped", 50)
    fill(queue, "a", 50)
    fill(queue, "b", 50)
    first = [queue.pop("w") for _ in range(3)]
    assert sorted(le.task.user for le in first) == ["a", "b", "capped"]  # one round, capped's one slot
    for le in first:
        if le.task.user != "capped":
            le.ack(None)
    order = []
    for _ in range(60):
        lease = queue.pop("w")
        order.append(lease.task.user)
        lease.ack(None)
    assert order == ["a", "b"] * 30  # capped's running task holds it: a and b alternate, untouched
