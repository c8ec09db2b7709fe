"""Issue 13: one fair pop feeds threads and the event loop. ack_and_pop_many with
`coroutines` leases at most n sync and that many async tasks, never one for a
kind that is full; a tenant whose next task has no room keeps its place in the
rotation. Real Redis, both clients; a record whose kind was edited by hand too."""

from __future__ import annotations

import pytest

from queueapp.engine import Ack, State, Task


def push(q, user, n, coroutine):
    return [q.push(Task("demo.noop", args=[user, i], user=user, coroutine=coroutine)).id for i in range(n)]


def kinds(leases):
    return sorted(("a" if le.task.coroutine else "s", le.task.user) for le in leases)


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_the_kind_is_stored_and_popped(anyqueue, raw):
    (tid,) = push(anyqueue, "acme", 1, coroutine=True)
    assert raw.hget(anyqueue.config.keys.task(tid), "kind") == "a"
    (sid,) = push(anyqueue, "acme", 1, coroutine=False)
    assert raw.hget(anyqueue.config.keys.task(sid), "kind") is None  # sync: nothing stored
    got = anyqueue.ack_and_pop_many([], "w1", 2)
    assert {le.id: le.task.coroutine for le in got.leases} == {tid: True, sid: False}


def test_each_kind_fills_only_its_own_free_slots(anyqueue):
    push(anyqueue, "sync-co", 10, coroutine=False)
    push(anyqueue, "async-co", 10, coroutine=True)
    got = anyqueue.ack_and_pop_many([], "w1", 1, coroutines=3)
    assert kinds(got.leases) == [("a", "async-co")] * 3 + [("s", "sync-co")]
    assert anyqueue.stats()["running"] == 4  # nothing leased beyond the free slots


def test_a_full_kind_leaves_its_tenant_in_place_and_others_are_served(anyqueue):
    first = push(anyqueue, "first", 3, coroutine=False)  # the oldest: first in the rotation
    push(anyqueue, "later", 3, coroutine=True)
    got = anyqueue.ack_and_pop_many([], "w1", 0, coroutines=2)  # threads full
    assert kinds(got.leases) == [("a", "later")] * 2
    assert anyqueue.get_task(first[0]).state == State.QUEUED
    nxt = anyqueue.ack_and_pop_many([Ack.of(le, None) for le in got.leases], "w1", 1, coroutines=0)
    assert [le.id for le in nxt.leases] == [first[0]]  # skipped, not sent to the back
    assert nxt.acked == ["ok", "ok"]


def test_no_room_for_any_waiting_kind_leases_nothing(anyqueue):
    for i in range(40):  # more tenants than one pop looks at
        push(anyqueue, f"t{i}", 1, coroutine=False)
    got = anyqueue.ack_and_pop_many([], "w1", 0, coroutines=5)
    assert got.leases == [] and anyqueue.stats()["running"] == 0 and anyqueue.stats()["queued"] == 40
    assert len(anyqueue.ack_and_pop_many([], "w1", 40, coroutines=0).leases) == 40


def test_critical_tasks_are_read_ahead_from_their_list(anyqueue):
    crit = anyqueue.push(Task("demo.noop", user="acme", priority=6, coroutine=True)).id
    push(anyqueue, "acme", 2, coroutine=False)
    got = anyqueue.ack_and_pop_many([], "w1", 0, coroutines=1)
    assert [le.id for le in got.leases] == [crit]
    assert anyqueue.ack_and_pop_many([], "w1", 0, coroutines=1).leases == []  # next is sync


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_a_hand_edited_kind_counts_as_sync(anyqueue, raw):
    ids = push(anyqueue, "acme", 2, coroutine=True)
    raw.hset(anyqueue.config.keys.task(ids[0]), "kind", "zz")
    got = anyqueue.ack_and_pop_many([], "w1", 0, coroutines=5)
    assert got.leases == []  # its next task reads as sync: no thread slot free
    got = anyqueue.ack_and_pop_many([], "w1", 1, coroutines=5)
    assert [le.id for le in got.leases] == ids and not got.leases[0].task.coroutine


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_a_missing_record_at_the_head_is_still_buried(anyqueue, raw):
    ids = push(anyqueue, "acme", 2, coroutine=True)
    raw.delete(anyqueue.config.keys.task(ids[0]))
    got = anyqueue.ack_and_pop_many([], "w1", 0, coroutines=5)
    assert [le.id for le in got.leases] == [ids[1]]
    assert anyqueue.stats()["queued"] == 0


def test_without_coroutines_any_kind_fills_any_slot(anyqueue):
    push(anyqueue, "acme", 3, coroutine=True)
    push(anyqueue, "beta", 3, coroutine=False)
    assert len(anyqueue.ack_and_pop_many([], "w1", 6).leases) == 6


def test_an_async_task_behind_40_sync_tenants_gets_a_free_coroutine_slot(anyqueue):
    for i in range(40):
        push(anyqueue, f"t{i:02d}", 2, coroutine=False)
    (late,) = push(anyqueue, "zz-async", 1, coroutine=True)  # last in the rotation (ties: by name)
    got = anyqueue.ack_and_pop_many([], "w1", 0, coroutines=5)  # threads full
    assert [le.id for le in got.leases] == [late]
    assert anyqueue.stats()["queued"] == 80 and anyqueue.stats()["running"] == 1


@pytest.mark.single_redis("counts commands in one server's INFO commandstats")
@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_the_tenants_skipped_per_call_are_bounded(anyqueue, rclient):
    for i in range(70):
        push(anyqueue, f"t{i:02d}", 1, coroutine=False)
    (late,) = push(anyqueue, "zz-async", 1, coroutine=True)
    before = rclient.info("commandstats").get("cmdstat_hgetall", {}).get("calls", 0)
    assert anyqueue.ack_and_pop_many([], "w1", 0, coroutines=1).leases == []  # 64 looked at, then stop
    assert rclient.info("commandstats")["cmdstat_hgetall"]["calls"] - before == 64
    assert anyqueue.stats()["queued"] == 71 and anyqueue.stats()["running"] == 0
    got = anyqueue.ack_and_pop_many([], "w1", 70, coroutines=1)
    assert len(got.leases) == 71 and late in {le.id for le in got.leases}


def test_tenant_names_are_not_confused_with_the_scripts_own_fields(anyqueue):
    for name in ("n", "pos", "skipped", "nskip", "s", "a"):
        push(anyqueue, name, 1, coroutine=False)
    push(anyqueue, "zz", 2, coroutine=True)
    got = anyqueue.ack_and_pop_many([], "w1", 0, coroutines=5)
    assert kinds(got.leases) == [("a", "zz")] * 2
    assert len(anyqueue.ack_and_pop_many([], "w1", 6, coroutines=0).leases) == 6
