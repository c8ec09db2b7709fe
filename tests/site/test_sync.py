"""Tenants and worker configurations: DB -> Redis sync after commit, syncqueue [--check], orphaned and
unregistered tenants, REQUIRE_REGISTERED_TENANTS, delete_tenant, weighted fairness. Real Redis, real DB."""

from __future__ import annotations

import time

import pytest
from django.db import transaction
from django.tasks.exceptions import InvalidTask

from queueapp import conf, demo, sync, tenants
from queueapp.engine import Task
from queueapp.engine.settings import TenantSettings, WorkerReport, WorkerSettings
from queueapp.forms import WorkerConfigForm
from queueapp.models import Tenant, WorkerConfig
from tests.commands import syncqueue

pytestmark = pytest.mark.django_db(transaction=True)  # on_commit pushes need real commits


def push(queue, user, n=1, delay_s=0):
    run_after = int(time.time() * 1000) + delay_s * 1000 if delay_s else None
    return [
        r.id
        for r in queue.push_many(
            [Task("queueapp.demo.echo", args=[i], user=user, run_after=run_after) for i in range(n)]
        )
    ]


def served(queue, worker, n):
    users = []
    for _ in range(n):
        lease = queue.pop(worker)
        users.append(lease and lease.task.user)
    return users


def save(obj, **fields):
    for name, value in fields.items():
        setattr(obj, name, value)
    obj.save()


def keyspace(raw, prefix):
    read = {
        "hash": raw.hgetall,
        "set": raw.smembers,
        "string": raw.get,
        "list": lambda k: raw.lrange(k, 0, -1),
        "zset": lambda k: raw.zrange(k, 0, -1, withscores=True),
    }
    return {k: read[raw.type(k)](k) for k in raw.scan_iter(match=prefix + "*", count=1000)}


@pytest.fixture
def abc(fq_settings):
    return {k: Tenant.objects.create(key=k, weight=w) for k, w in (("a", 1), ("b", 2), ("c", 3))}


@pytest.fixture
def w1(abc):
    cfg = WorkerConfig.objects.create(worker_id="w1", concurrency=4, lease_seconds=12)
    cfg.assigned_users.add(abc["a"], abc["b"])
    cfg.steal_targets.add(abc["c"])
    return cfg


def test_tenant_save_update_delete(fq_settings, queue):
    t = Tenant.objects.create(key="acme", weight=3)
    assert queue.config_snapshot().tenants == {"acme": TenantSettings("acme", 3.0, False)}
    save(t, weight=7, paused=True)
    assert queue.config_snapshot().tenants == {"acme": TenantSettings("acme", 7.0, True)}
    save(t, weight=1, paused=False)
    assert queue.config_snapshot().tenants == {"acme": TenantSettings("acme", 1.0, False)}
    t.delete()
    snap = queue.config_snapshot()
    assert (snap.tenants, snap.unregistered_weights, snap.unregistered_paused) == ({}, [], [])


def test_paused_tenant_is_skipped_until_resumed(fq_settings, queue):
    acme, _ = Tenant.objects.create(key="acme"), Tenant.objects.create(key="globex")
    push(queue, "acme", 2)
    push(queue, "globex", 2)
    save(acme, paused=True)
    assert served(queue, "free", 3) == ["globex", "globex", None]
    save(acme, paused=False)
    assert served(queue, "free", 3) == ["acme", "acme", None]


def test_worker_config_through_the_orm_is_copied_exactly(w1, queue):
    snap = queue.config_snapshot()
    assert snap == sync.expected().snapshot()
    assert snap.workers["w1"] == WorkerSettings(
        "w1", assigned=("a", "b"), steal=("c",), concurrency=4, poll_interval=0.2, lease_seconds=12.0
    )


@pytest.mark.parametrize(
    ("change", "check"),
    [
        (lambda cfg, t: cfg.assigned_users.remove(t["b"]), lambda s: s.workers["w1"].assigned == ("a",)),
        (lambda cfg, t: t["b"].assigned_workers.remove(cfg), lambda s: s.workers["w1"].assigned == ("a",)),
        (lambda cfg, t: cfg.steal_targets.clear(), lambda s: s.workers["w1"].steal == ()),
        (lambda cfg, t: cfg.assigned_users.set([t["a"]]), lambda s: s.workers["w1"].assigned == ("a",)),
        (lambda cfg, t: save(cfg, steal_all=True), lambda s: s.workers["w1"].steal_all),
        (lambda cfg, t: save(cfg, enabled=False), lambda s: not s.workers["w1"].enabled),
        (lambda cfg, t: save(cfg, lease_seconds=None), lambda s: s.workers["w1"].lease_seconds is None),
        (lambda cfg, t: cfg.delete(), lambda s: s.workers == {}),
        (lambda cfg, t: t["a"].delete(), lambda s: s.workers["w1"].assigned == ("b",) and "a" not in s.tenants),
        (lambda cfg, t: t["c"].delete(), lambda s: s.workers["w1"].steal == ()),
        (lambda cfg, t: t["b"].assigned_workers.clear(), lambda s: s.workers["w1"].assigned == ("a",)),
        (lambda cfg, t: save(t["a"], key="a2"), lambda s: "a" not in s.tenants),
        (lambda cfg, t: save(cfg, worker_id="w9"), lambda s: list(s.workers) == ["w9"]),
    ],
    ids=[
        "remove",
        "reverse-remove",
        "clear-steal",
        "set",
        "steal-all",
        "disable",
        "lease-cleared",
        "delete-config",
        "cascade-assigned",
        "cascade-steal",
        "reverse-clear",
        "rename-tenant",
        "rename-worker",
    ],
)
def test_each_worker_config_change_is_reflected(w1, abc, queue, change, check):
    change(w1, abc)
    snap = queue.config_snapshot()
    assert check(snap)
    assert snap == sync.expected().snapshot()


def test_served_tenants_follow_the_config(w1, queue):
    push(queue, "c", 1)
    push(queue, "a", 1)
    push(queue, "x", 1)
    assert served(queue, "w1", 3) == ["a", "c", None]  # assigned first, then steal target; x is not its tenant
    save(w1, steal_all=True)
    assert served(queue, "w1", 1) == ["x"]
    push(queue, "a", 1)
    save(w1, enabled=False)
    assert served(queue, "w1", 1) == [None]


def test_worker_config_through_the_form(abc, queue):
    data = {
        "worker_id": "w2",
        "enabled": "on",
        "assigned_users": [abc["a"].pk],
        "steal_targets": [abc["b"].pk],
        "concurrency": "3",
        "poll_interval": "0.5",
        "lease_seconds": "",
        "notes": "",
    }
    form = WorkerConfigForm(data)
    assert form.is_valid(), form.errors
    cfg = form.save()
    assert queue.config_snapshot() == sync.expected().snapshot()
    assert queue.config_snapshot().workers["w2"].steal == ("b",)
    form = WorkerConfigForm({**data, "assigned_users": [abc["c"].pk], "steal_all": "on"}, instance=cfg)
    assert form.is_valid(), form.errors
    form.save()
    snap = queue.config_snapshot()
    assert (snap.workers["w2"].assigned, snap.workers["w2"].steal_all) == (("c",), True)
    assert snap == sync.expected().snapshot()


def test_rolled_back_transaction_changes_nothing(w1, queue, raw, prefix):
    before, keys = queue.config_snapshot(), keyspace(raw, prefix)
    with pytest.raises(RuntimeError), transaction.atomic():
        ghost = Tenant.objects.create(key="ghost", weight=5)
        cfg = WorkerConfig.objects.create(worker_id="wx", steal_all=True)
        cfg.assigned_users.add(ghost)
        w1.assigned_users.remove(Tenant.objects.get(key="a"))
        Tenant.objects.get(key="b").delete()
        raise RuntimeError("roll back")
    assert queue.config_snapshot() == before == sync.expected().snapshot()
    assert keyspace(raw, prefix) == keys


@pytest.fixture
def full(abc):
    Tenant.objects.filter(key="b").update(paused=True)  # bulk update: no signal, syncqueue repairs it
    Tenant.objects.create(key="d", weight=9, paused=True)
    w1 = WorkerConfig.objects.create(worker_id="w1", concurrency=8, poll_interval=0.05, lease_seconds=90)
    w1.assigned_users.add(*Tenant.objects.filter(key__in=["a", "b"]))
    w1.steal_targets.add(abc["c"])
    off = WorkerConfig.objects.create(worker_id="off", enabled=False)
    off.assigned_users.add(abc["c"])
    WorkerConfig.objects.create(worker_id="sweeper", steal_all=True).steal_targets.add(abc["a"])
    assert syncqueue()[0] == 0


def test_full_sync_after_flushdb_restores_an_identical_copy(full, queue, raw):
    a = queue.config_snapshot()
    assert a == sync.expected().snapshot() and a.tenants["b"].paused and a.workers["sweeper"].steal_all
    raw.flushdb()
    assert queue.config_snapshot().workers == {} and not queue.is_synced()
    code, out = syncqueue()
    assert code == 0 and "synced 4 tenant(s), 3 worker configuration(s)" in out and "removed" not in out
    assert queue.config_snapshot() == a and queue.is_synced()


def test_syncqueue_is_idempotent_and_removes_redis_only_entries(full, queue, raw, prefix):
    a = queue.config_snapshot()
    queue.set_worker_config(WorkerSettings("rogue", assigned=["a"], steal_all=True))
    queue.set_tenant(TenantSettings("stray", weight=4, paused=True))
    raw.hset(f"{prefix}:cfg:weights", "ghost", "5")
    code, out = syncqueue()
    assert code == 0
    assert [x for x in out.splitlines() if x.startswith("removed")] == [
        f"removed from Redis (not in the database): {x}" for x in ("tenant ghost", "tenant stray", "worker rogue")
    ]
    assert queue.config_snapshot() == a
    code, out = syncqueue()
    assert code == 0 and "synced 4 tenant(s)" in out and "removed" not in out
    assert queue.config_snapshot() == a


def in_sync():
    code, out = syncqueue("--check")
    return code == 0 and "in sync: Redis matches the database" in out and "drift" not in out


def test_check_in_sync(full):
    assert in_sync()


@pytest.mark.parametrize(
    ("make_drift", "line"),
    [
        (lambda q, r, p: r.hset(f"{p}:cfg:weights", "c", "9"), "tenant c: weight is 3.0 in the DB but 9.0 in Redis"),
        (lambda q, r, p: r.sadd(f"{p}:cfg:paused", "a"), "tenant a: paused is False in the DB but True in Redis"),
        (lambda q, r, p: r.srem(f"{p}:cfg:tenants", "d"), "tenant d: in the DB, missing in Redis"),
        (lambda q, r, p: q.set_tenant(TenantSettings("stray")), "tenant stray: in Redis, not in the DB"),
        (
            lambda q, r, p: r.hset(f"{p}:cfg:weights", "ghost", "2"),
            "tenant ghost: a weight in Redis but not registered",
        ),
        (lambda q, r, p: r.delete(f"{p}:cfg:worker:w1"), "worker w1: assigned is ('a', 'b') in the DB but () in Redis"),
        (
            lambda q, r, p: r.hset(f"{p}:cfg:worker:off", "concurrency", "2"),
            "worker off: concurrency is 1 in the DB but 2 in Redis",
        ),
        (lambda q, r, p: q.set_worker_config(WorkerSettings("rogue")), "worker rogue: in Redis, not in the DB"),
        (lambda q, r, p: r.srem(f"{p}:cfg:steal_all", "sweeper"), "steal-all workers: ['sweeper'] in the DB, []"),
    ],
)
def test_check_reports_drift_until_syncqueue(full, queue, raw, prefix, make_drift, line):
    make_drift(queue, raw, prefix)
    code, out = syncqueue("--check")
    assert code == 1 and "drift: " + line in out, out
    assert syncqueue()[0] == 0
    assert in_sync()


def _heartbeat(queue, worker):
    queue.heartbeat(worker, [], WorkerReport(worker, 0, 0, host="test", pid=1, ttl_seconds=60))


@pytest.mark.parametrize(
    ("action", "cleared"),
    [
        (lambda q: None, False),
        (lambda q: WorkerConfig.objects.create(worker_id="sweeper", steal_all=True), True),
        (lambda q: WorkerConfig.objects.create(worker_id="sweeper", steal_all=True, enabled=False), False),
        (lambda q: _heartbeat(q, "free-worker"), True),
        (lambda q: _heartbeat(q, "w1"), False),
        (lambda q: WorkerConfig.objects.get(worker_id="w1").steal_targets.add(Tenant.objects.get(key="c")), True),
    ],
)
def test_orphaned_tenants(w1, queue, action, cleared):
    w1.steal_targets.clear()
    push(queue, "a", 1)
    push(queue, "c", 2)
    assert queue.orphaned() == [("c", 2)]
    action(queue)
    assert queue.orphaned() == ([] if cleared else [("c", 2)])
    code, out = syncqueue("--check")
    assert code == 0 and ("orphaned: tenant c has 2 queued task(s)" in out) is not cleared, out


def test_unregistered_tenants(abc, queue):
    push(queue, "a", 1)
    push(queue, "ghost", 3)
    assert queue.unregistered() == [("ghost", 3)]
    assert "unregistered: tenant ghost has 3 queued task(s) and no Tenant row" in syncqueue("--check")[1]
    Tenant.objects.create(key="ghost")
    assert queue.unregistered() == []
    assert "unregistered" not in syncqueue("--check")[1]


@pytest.mark.parametrize("strict", [True, False])
def test_require_registered_tenants(fq_settings, queue, strict):
    fq_settings.FAIRQUEUE = {**fq_settings.FAIRQUEUE, "REQUIRE_REGISTERED_TENANTS": strict}
    conf.get_queue.cache_clear()
    Tenant.objects.create(key="acme")
    assert queue.get_task(demo.echo.using(user="acme").enqueue(1).id) is not None
    if strict:
        with pytest.raises(InvalidTask, match="'ghost' is not registered"):
            demo.echo.using(user="ghost").enqueue(1)
        assert queue.stats()["enqueued"] == 1 and queue.tenant_stats("ghost")["enqueued"] == 0
    else:
        assert queue.get_task(demo.echo.using(user="ghost").enqueue(1).id).user == "ghost"


def test_delete_tenant_dead_letters_queued_and_deferred_tasks(abc, queue):
    mine = push(queue, "a", 3) + push(queue, "a", 2, delay_s=3600)
    theirs = push(queue, "b", 2) + push(queue, "b", 1, delay_s=3600)
    tenants.delete_tenant(abc["a"], tenants.DEAD_LETTER)
    dead = queue.dead_letters(user="a").items
    assert sorted(t.id for t in dead) == sorted(mine) and {t.dead_reason for t in dead} == {"tenant_deleted"}
    assert queue.dead_letters().total == 5 and tenants.queued_count("a") == 0
    assert [queue.get_task(i).state for i in theirs] == ["queued", "queued", "deferred"]
    assert tenants.queued_count("b") == 3 and not Tenant.objects.filter(key="a").exists()
    assert "a" not in queue.config_snapshot().tenants


def test_delete_tenant_keep_leaves_tasks_queued_and_unregistered(abc, queue):
    save(abc["a"], paused=True)  # a paused tenant's kept tasks are served again once it is deleted
    push(queue, "a", 3)
    push(queue, "a", 1, delay_s=3600)
    assert served(queue, "free", 1) == [None]
    with pytest.raises(ValueError, match="queued must be"):
        tenants.delete_tenant(abc["a"], "drop")
    assert Tenant.objects.filter(key="a").exists()
    tenants.delete_tenant(abc["a"], tenants.KEEP)
    assert queue.unregistered() == [("a", 3)] and queue.dead_letters().total == 0
    assert tenants.queued_count("a") == 4 and "a" not in queue.config_snapshot().tenants
    assert served(queue, "free", 4) == ["a", "a", "a", None]


def test_weighted_fairness_through_the_models(fq_settings, queue):
    Tenant.objects.create(key="heavy", weight=3)
    Tenant.objects.create(key="light", weight=1)
    push(queue, "heavy", 3000)
    push(queue, "light", 3000)
    fast = queue.dedicated()
    users = served(fast, "free", 4000)
    assert abs(users.count("heavy") / users.count("light") - 3) <= 0.1
