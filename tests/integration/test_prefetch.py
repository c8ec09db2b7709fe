"""Issue 11: ack_and_pop_many, a pooled worker's one call per round: acks every finished
task, then leases up to n tasks in fair order, each under its own lease. Real Redis, both
clients; the paths a hand edit or a lost lease take too."""

from __future__ import annotations

import pytest

from queueapp.engine import Ack, State, Task
from queueapp.engine.settings import WorkerSettings


def push(q, users, each=3):
    return [q.push(Task("demo.noop", args=[u, i], user=u)).id for i in range(each) for u in users]


@pytest.mark.one_shard(
    "exact order across tenants, a property of one shard (docs/operations.md, fairness across shards)"
)
def test_one_call_rotates_over_tenants_and_gives_each_task_its_own_lease(anyqueue):
    push(anyqueue, ["heavy"], each=20)
    push(anyqueue, ["a", "b", "c"], each=2)
    got = anyqueue.ack_and_pop_many([], "w1", 4)
    assert sorted(le.task.user for le in got.leases) == ["a", "b", "c", "heavy"]  # not 4 of heavy
    assert len({le.token for le in got.leases}) == 4
    assert anyqueue.stats()["running"] == 4 and got.acked == [] and not got.disabled


def test_acks_are_applied_in_order_and_a_stale_one_stops_nothing(anyqueue):
    push(anyqueue, ["acme"], each=6)
    first = anyqueue.ack_and_pop_many([], "w1", 3)
    stale = Ack.of(first.leases[0], "late")
    acks = [Ack.of(le, i) for i, le in enumerate(first.leases)] + [stale]
    second = anyqueue.ack_and_pop_many(acks, "w1", 3)
    assert second.acked == ["ok", "ok", "ok", "stale"] and len(second.leases) == 3
    assert [anyqueue.get_task(le.id).return_value for le in first.leases] == [0, 1, 2]


def test_fewer_tasks_than_slots_leases_what_there_is(anyqueue):
    push(anyqueue, ["acme"], each=2)
    got = anyqueue.ack_and_pop_many([], "w1", 8)
    assert len(got.leases) == 2 and anyqueue.ack_and_pop_many([], "w1", 8).leases == []


def test_zero_slots_only_acks(anyqueue):
    push(anyqueue, ["acme"], each=3)
    lease = anyqueue.ack_and_pop_many([], "w1", 1).leases[0]
    got = anyqueue.ack_and_pop_many([Ack.of(lease, None)], "w1", 0)
    assert got.acked == ["ok"] and got.leases == [] and anyqueue.stats()["queued"] == 2


def test_a_disabled_worker_acks_but_leases_nothing(anyqueue):
    push(anyqueue, ["acme"], each=3)
    lease = anyqueue.ack_and_pop_many([], "w1", 1).leases[0]
    anyqueue.set_worker_config(WorkerSettings("w1", enabled=False, assigned=["acme"]))
    got = anyqueue.ack_and_pop_many([Ack.of(lease, "r")], "w1", 4)
    assert got.disabled and got.acked == ["ok"] and got.leases == []
    assert anyqueue.get_task(lease.id).state == State.SUCCEEDED


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_a_record_python_cannot_read_is_dead_lettered_and_the_rest_are_leased(anyqueue, raw):
    ids = push(anyqueue, ["acme"], each=3)
    k = anyqueue.config.keys
    raw.hset(k.task(ids[1]), "max_retries", "many")  # Lua runs it; Python cannot decode it
    got = anyqueue.ack_and_pop_many([], "w1", 3)
    assert sorted(le.id for le in got.leases) == sorted([ids[0], ids[2]])
    assert anyqueue.get_task(ids[1]).state == State.DEAD
    assert anyqueue.get_task(ids[1]).dead_reason == "decode_error"
    assert anyqueue.stats()["running"] == 2
