"""SHARDS=3: three complete fair queues behind one client, on one Redis and on a loopback
Redis Cluster (3 primaries). Routing by tenant and by task id, the worker's turn over the
shards, reads summed and merged, pipelines and schedules in their tenant's shard."""

from __future__ import annotations

import pytest

from queueapp.engine import Ack, EngineConfig, FairQueue, Task
from queueapp.engine.errors import TaskNotFound
from queueapp.engine.settings import ScheduleSpec, TenantSettings
from queueapp.engine.shard_consume import TURN
from queueapp.engine.shards import ShardedQueue, shard_of_id, shard_prefix
from tests.redis_cluster import LoopbackCluster


@pytest.fixture(scope="module")
def cluster():
    c = LoopbackCluster(3).start()
    yield c
    c.cleanup()


@pytest.fixture(params=["one-redis", "cluster"])
def sq(request, rclient, config) -> ShardedQueue:
    if request.param == "one-redis":
        client = rclient
    else:
        client = request.getfixturevalue("cluster").client()
        request.addfinalizer(client.close)
    q = ShardedQueue.over(client, config, 3)
    assert isinstance(q, ShardedQueue)
    return q


def users_on(q: ShardedQueue, shard: int, n: int) -> list[str]:
    """n tenant keys that hash to `shard`."""
    out, i = [], 0
    while len(out) < n:
        if q.shard_of(f"u{i}") == shard:
            out.append(f"u{i}")
        i += 1
    return out


def test_shard_prefixes_and_one_shard_is_a_plain_queue(rclient):
    assert shard_prefix("{fq}", 2) == "{fq:2}" and shard_prefix("app:{fq}", 0) == "app:{fq:0}"
    one = ShardedQueue.over(rclient, EngineConfig(prefix="{fq}"), 1)
    assert type(one) is FairQueue and one.config.prefix == "{fq}"  # SHARDS=1: key names unchanged


def test_push_routes_by_tenant_and_ids_name_their_shard(sq):
    tasks = [Task("demo.noop", args=[i], user=f"t{i % 7}") for i in range(70)]
    results = sq.push_many(tasks)
    assert [r.id for r in results] == [t.id for t in tasks]  # in order, ids as pushed
    for t in tasks:
        assert shard_of_id(t.id, 3) == sq.shard_of(t.user)
        assert sq.shards[sq.shard_of(t.user)].get_task(t.id).user == t.user  # in that shard only
        assert all(s.get_task(t.id) is None for i, s in enumerate(sq.shards) if i != sq.shard_of(t.user))
    assert sq.stats()["queued"] == 70
    assert sorted(sq.shards[i].stats()["queued"] for i in range(3)) != [0, 0, 70]  # spread
    assert sq.get_task(tasks[5].id).args == [5]
    sq.cancel(tasks[5].id)
    assert sq.get_task(tasks[5].id).state == "cancelled"
    with pytest.raises(TaskNotFound):
        sq.cancel("no-such-task@1")
    # an id without a mark (a record pushed before SHARDS was raised) is found on its shard
    old = Task("demo.noop", user="t1")
    sq.for_user("t1").push(old)
    assert "@" not in old.id and sq.get_task(old.id).id == old.id


def test_push_each_with_ids_made_before_a_pin_moved_lands_where_the_ids_say(sq):
    """enqueue_many makes its ids (new_ids) before the push; a pin that moves meanwhile must
    not put the records on a shard other than the one their ids name (lookups go by the id)."""
    (user,) = users_on(sq, 0, 1)
    ids = sq.new_ids(user, 3)
    assert {shard_of_id(i, 3) for i in ids} == {0}
    sq.set_pins({user: 2})
    sq.push_each(Task("demo.noop", user=user), [([i], {}) for i in range(3)], ids)
    pending = sq.start_push_each(Task("demo.noop", user=user), [([9], {})], sq.new_ids(user, 1))
    (late,) = pending.result()
    assert [sq.shards[0].get_task(i).args for i in ids] == [[0], [1], [2]]
    assert shard_of_id(late.id, 3) == 2 and sq.shards[2].get_task(late.id).args == [9]
    assert [sq.get_task(i).user for i in [*ids, late.id]] == [user] * 4


def test_a_busy_shard_cannot_starve_a_quiet_one(sq):
    (heavy,), quiet = users_on(sq, 0, 1), users_on(sq, 1, 2)
    sq.push_many([Task("demo.noop", user=heavy) for _ in range(200)])
    sq.push_many([Task("demo.noop", user=u) for u in quiet for _ in range(3)])
    served, lease = [], sq.pop("w1")
    while lease is not None:
        served.append(lease.task.user)
        lease = lease.ack_and_pop(None)
    assert len(served) == 206
    last_quiet = max(i for i, u in enumerate(served) if u in quiet)
    assert last_quiet < 2 * TURN + 6  # the quiet shard's 6 tasks come in its first turns
    assert sq.stats()["succeeded"] == 206


def test_prefetch_acks_each_shard_and_fills_from_the_next(sq):
    users = [u for i in range(3) for u in users_on(sq, i, 1)]
    for u in users:
        sq.push_many([Task("demo.noop", user=u) for _ in range(2)])
    first = sq.ack_and_pop_many([], "w1", 4)
    assert len(first.leases) == 4 and len({le.shard for le in first.leases}) >= 2  # one shard had 2
    second = sq.ack_and_pop_many([Ack.of(le, le.id) for le in first.leases], "w1", 4)
    assert second.acked == ["ok"] * 4 and len(second.leases) == 2
    third = sq.ack_and_pop_many([Ack.of(le, None) for le in second.leases], "w1", 4)
    assert third.acked == ["ok", "ok"] and third.leases == []
    assert sq.stats()["succeeded"] == 6 and sq.idle()
    assert sq.get_task(first.leases[0].id).result == f'"{first.leases[0].id}"'


def test_failures_dead_letters_and_requeue_across_shards(sq):
    users = [u for i in range(3) for u in users_on(sq, i, 1)]
    ids = [r.id for r in sq.push_many([Task("demo.noop", user=u, max_retries=0) for u in users])]
    for _ in users:
        lease = sq.pop("w1")
        assert sq.fail(lease, RuntimeError("boom"), retry=False).outcome == "dead"
    page = sq.dead_letters()
    assert page.total == 3 and sorted(t.id for t in page.items) == sorted(ids)
    assert sq.dead_letters(user=users[1]).total == 1
    assert [t.finished_at for t in page.items] == sorted((t.finished_at for t in page.items), reverse=True)
    assert sq.dlq_requeue(ids + ["gone@2"]) == (3, ["gone@2"])
    assert sq.stats()["queued"] == 3 and sq.dead_letters().total == 0
    backlog = sq.tenants_with_backlog()
    assert backlog.total == 3 and sorted(u for u, _ in backlog.items) == sorted(users)
    assert sq.dlq_delete_matching(user=users[0]) == 0  # nothing dead any more


def test_heartbeat_renews_each_shard_and_a_lost_lease_comes_back(sq, rclient):
    users = [u for i in range(3) for u in users_on(sq, i, 1)]
    sq.push_many([Task("demo.noop", user=u) for u in users])
    leases = sq.ack_and_pop_many([], "w1", 3, lease_seconds=30).leases
    assert len(leases) == 3 and sq.running().total == 3
    assert sq.heartbeat("w1", leases, lease_seconds=30) == []
    gone = leases[1]
    sq.shards[gone.shard].release(gone)  # as if another worker had taken it over
    assert sq.heartbeat("w1", leases, lease_seconds=30) == [gone.id]
    assert [t.lease_deadline for t in sq.running().items] == sorted(t.lease_deadline for t in sq.running().items)


def test_a_pipeline_runs_in_its_tenants_shard_with_its_edges(sq):
    a, b = Task("demo.noop", user="acme"), Task("demo.noop", user="acme")
    b.depends_on = (a.id,)
    sq.push_pipeline("run1", "acme", "etl", [a, b])
    home = sq.shard_of("acme")
    assert a.id.endswith(f"@{home}") and b.depends_on == (a.id,)
    lease = sq.pop("w1")
    assert lease.id == a.id and sq.pop("w1") is None  # b waits for a
    nxt = lease.ack_and_pop(None)
    assert nxt is not None and nxt.id == b.id
    nxt.ack(None)
    run = sq.pipeline("run1")
    assert run is not None and run.done == 2 and sq.pipelines()[1] == 1


def test_schedules_live_and_fire_in_their_tenants_shard(sq):
    spec = ScheduleSpec("nightly", "0 3 * * *", "demo.noop", user="acme")
    sq.set_schedule("nightly", spec)
    version, rows = sq.schedules()
    assert version and list(rows) == ["nightly"]
    home = sq.shard_of("acme")
    assert list(sq.shards[home].schedules()[1]) == ["nightly"]
    fired, dupes = sq.fire_schedule("nightly", [("nightly:1", 1, spec.task())], 2)
    assert (fired, dupes) == (1, 0) and sq.shards[home].stats()["queued"] == 1
    assert sq.fire_schedule("nightly", [("nightly:1", 1, spec.task())], 2) == (0, 1)  # once per fire key
    sq.set_schedule("nightly", None)
    assert sq.schedules()[1] == {}


def test_tenant_settings_and_rows_come_from_the_tenants_shard(sq):
    sq.set_tenants([TenantSettings("acme", weight=3), TenantSettings("beta", max_running=1)])
    sq.push(Task("demo.noop", user="acme"))
    snap = sq.config_snapshot()
    assert snap.tenants["acme"].weight == 3 and snap.tenants["beta"].max_running == 1
    assert sq.shards[sq.shard_of("acme")].config_snapshot().tenants["acme"].weight == 3
    rows = sq.tenant_rows(["acme", "beta"])
    assert rows["acme"]["shard"] == sq.shard_of("acme") and rows["acme"]["queued"] == 1
    assert sq.tenant_keys().total == 2
    sq.delete_tenant("beta")
    assert "beta" not in sq.config_snapshot().tenants


def test_a_pinned_tenant_moves_and_its_queued_tasks_drain_where_they_are(sq):
    user = users_on(sq, 0, 1)[0]
    sq.set_tenant(TenantSettings(user, weight=2))
    old = [r.id for r in sq.push_many([Task("demo.noop", user=user) for _ in range(5)])]
    sq.set_pins({user: 2})
    assert sq.shard_of(user) == 2 and sq.homes(user) == [2, 0]
    sq.set_tenant(TenantSettings(user, weight=3))  # settings reach both of its shards
    assert all(sq.shards[i].config_snapshot().tenants[user].weight == 3 for i in (0, 2))
    new = [r.id for r in sq.push_many([Task("demo.noop", user=user) for _ in range(5)])]
    assert {shard_of_id(i, 3) for i in old} == {0} and {shard_of_id(i, 3) for i in new} == {2}
    page = sq.tenant_queue(user)
    assert page.total == 10 and [t.id for t in page.items] == old + new  # both shards, in enqueue order
    assert sq.tenant_rows([user])[user]["queued"] == 10 and sq.tenant_rows([user])[user]["shard"] == 2
    assert sq.tenant_keys().items.count(user) == 1 and sq.tenant_keys().total == 1  # listed once
    assert sq.tenants_with_backlog().items == [(user, 10)] and sq.tenants_with_backlog().total == 1
    served, lease = [], sq.pop("w1")
    while lease is not None:
        served.append(lease.id)
        lease = lease.ack_and_pop(None)
    assert sorted(served) == sorted(old + new)  # nothing stranded in the old shard
    assert sq.tenant_stats(user)["succeeded"] == 10 and len(sq.recent(user)) == 10
    # a second process reads the stored pin; an unpin sends the tenant back to its hash
    other = ShardedQueue([sq.shards[0].sibling(s.config) for s in sq.shards])
    assert other.shard_of(user) == 2 and other.stored_pins() == {user: 2}
    sq.set_pins({user: None})
    assert sq.shard_of(user) == 0 and sq.stored_pins() == {}
    with pytest.raises(Exception, match="0..2"):
        sq.set_pins({user: 3})


def test_a_hand_edited_pin_that_is_no_shard_is_no_pin(sq):
    user = users_on(sq, 1, 1)[0]
    sq.redis.hset(sq.shards[0].config.keys.pins(), mapping={user: "9", "other": "x"})
    fresh = ShardedQueue([sq.shards[0], *sq.shards[1:]])
    assert fresh.shard_of(user) == 1 and fresh.shard_of("other") == fresh.homes("other")[0]


def test_a_worker_given_some_shards_serves_only_those(sq):
    users = {i: users_on(sq, i, 1)[0] for i in range(3)}
    for user in users.values():
        sq.push_many([Task("demo.noop", user=user) for _ in range(4)])
    mine = sq.only([0, 2])
    leases = mine.ack_and_pop_many([], "w-02", 20).leases
    assert sorted({le.shard for le in leases}) == [0, 2] and len(leases) == 8
    assert mine.ack_and_pop_many([Ack.of(le, None) for le in leases], "w-02", 20).leases == []
    assert mine.pop("w-02") is None and sq.shards[1].stats()["queued"] == 4  # shard 1 is not its
    assert mine.heartbeat("w-02", []) == [] and {r.worker for r in sq.shards[1].workers()} == set()
    with pytest.raises(ValueError, match="0..2"):
        sq.only([3])


def test_one_scheduler_leads_for_every_shard_and_fires_into_the_tenants_shard(sq):
    from queueapp.engine.scheduler import Scheduler, fire_now

    users = {i: users_on(sq, i, 1)[0] for i in (0, 2)}
    for i, user in users.items():
        sq.set_schedule(f"every-{i}", ScheduleSpec(f"every-{i}", "* * * * *", "demo.noop", user=user))
    leader, standby = Scheduler(sq, lease_seconds=30), Scheduler(sq, lease_seconds=30)
    assert leader.tick() == 0 and leader.leading  # loaded both; first fires set a minute ahead
    assert standby.tick() == 0 and not standby.leading  # one leader for all shards (its lock in shard 0)
    now = sq.redis_time_ms()
    for name in leader.next_ms:
        leader.next_ms[name] = now - 1_000  # as if that minute had come
    assert leader.tick() == 2
    for i, user in users.items():
        assert sq.shards[i].tenant_stats(user)["queued"] == 1  # each fire in its tenant's shard
    state = sq.shards[2].schedules()[1]["every-2"][1]
    assert int(state["next_ms"]) > now and sq.shards[0].schedules()[1].keys() == {"every-0"}
    task_id = fire_now(sq, ScheduleSpec("every-2", "* * * * *", "demo.noop", user=users[2]))
    assert task_id.endswith("@2") and sq.get_task(task_id).user == users[2]
    leader.release()


def test_turns_follow_the_tenants_with_work_in_each_shard(sq):
    """A tenant alone on its shard gets about a tenant's share, not a shard's (a third)."""
    (alone,), crowd = users_on(sq, 0, 1), users_on(sq, 2, 9)
    sq.push_many([Task("demo.noop", user=alone) for _ in range(300)])
    sq.push_many([Task("demo.noop", user=u) for u in crowd for _ in range(60)])
    served, lease = [], sq.pop("w1")
    while lease is not None and len(served) < 200:
        served.append(lease.task.user)
        lease = lease.ack_and_pop(None)
    fair = 200 / 10
    assert served.count(alone) <= 2 * fair  # equal turns per shard gave it ~100 of 200
    assert all(served.count(u) >= fair / 2 for u in crowd)
