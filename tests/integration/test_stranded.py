"""Issue 10, item 6: lane entries without the matching backlog counter (a bug, a
partial restore, a hand edit) must not strand work. Readiness follows the lanes
themselves, and repair_ready (run by `manage.py syncqueue`) re-readies tenants
whose lanes hold work but that no ready set lists."""

from __future__ import annotations

import pytest

from queueapp.engine import Task
from queueapp.engine.settings import TenantSettings, WorkerSettings
from queueapp.engine.worker import Worker, WorkerOptions
from tests.commands import syncqueue


def push(q, n, user="acme", priority=3):
    return [r.id for r in q.push_many([Task("demo.noop", user=user, priority=priority) for _ in range(n)])]


def drain(q, worker="w1"):
    ids = []
    while (lease := q.pop(worker)) is not None:
        ids.append(lease.id)
        lease.ack(None)
    return ids


def lanes(raw, k, user):
    return raw.llen(k.crit(user)) + raw.zcard(k.norm(user))


@pytest.mark.one_shard("reads or plants its queue's keys by name")
@pytest.mark.parametrize("backlog", [None, 0, 42, 1])
def test_a_tenant_stays_ready_while_its_lanes_hold_work_whatever_the_counter_says(anyqueue, raw, backlog):
    k = anyqueue.config.keys
    ids = push(anyqueue, 40) + push(anyqueue, 10, priority=6)
    if backlog is None:
        raw.zrem(k.backlog(), "acme")
    else:
        raw.zadd(k.backlog(), {"acme": backlog})
    assert sorted(drain(anyqueue)) == sorted(ids)
    assert lanes(raw, k, "acme") == 0
    assert raw.zscore(k.backlog(), "acme") is None and raw.zscore(k.ready_all(), "acme") is None


@pytest.mark.one_shard("reads or plants its queue's keys by name")
@pytest.mark.parametrize("counter", [99, 2.5, None])
def test_the_counter_is_written_from_the_lanes(anyqueue, raw, counter):
    """A pop writes the backlog counter from the lanes, whatever a hand edit left (even a
    score that is not an integer); the queued gauges, the copy that tells whether the totals
    drifted, move by exactly the task popped."""
    k = anyqueue.config.keys
    push(anyqueue, 5)
    if counter is None:
        raw.zrem(k.backlog(), "acme")
    else:
        raw.zadd(k.backlog(), {"acme": counter})
    anyqueue.pop("w1")
    assert raw.zscore(k.backlog(), "acme") == 4  # corrected by the first pop
    assert anyqueue.tenant_stats("acme")["queued"] == 4 and anyqueue.stats()["queued"] == 4
    raw.zadd(k.backlog(), {"acme": 1})
    push(anyqueue, 2)
    # a push adds to the counter (ZINCRBY: two Redis calls fewer per tenant than counting
    # the lanes); the next pop writes it from the lanes again
    assert raw.zscore(k.backlog(), "acme") == 3
    anyqueue.pop("w1")
    assert raw.zscore(k.backlog(), "acme") == 5
    assert len(drain(anyqueue)) == 5
    assert raw.zscore(k.backlog(), "acme") is None and anyqueue.stats()["queued"] == 0


def test_a_burst_worker_drains_a_tenant_whose_counter_is_short(queue, raw):
    """As reported: 50 good tasks, the counter says 42; the burst worker left 8 behind."""
    k = queue.config.keys
    ids = push(queue, 50)
    raw.zadd(k.backlog(), {"acme": 42})
    ran = []

    def execute(task):
        ran.append(task.id)
        return None

    worker = Worker(queue, WorkerOptions("w-burst", concurrency=2, burst=True, grace_seconds=5), execute)
    assert worker.run() == 0
    assert sorted(ran) == sorted(ids)
    assert lanes(raw, k, "acme") == 0 and queue.stats()["succeeded"] == 50


def test_resuming_a_paused_tenant_readies_it_from_its_lanes(anyqueue, raw):
    k = anyqueue.config.keys
    ids = push(anyqueue, 6)
    anyqueue.set_tenant(TenantSettings("acme", paused=True))
    assert anyqueue.pop("w1") is None
    raw.zrem(k.backlog(), "acme")  # the counter drifted while it was paused
    anyqueue.set_tenant(TenantSettings("acme", paused=False))
    assert sorted(drain(anyqueue)) == sorted(ids)


def strand(raw, k, user, workers=()):
    """Take the tenant out of every ready set and drop its counter: its lanes keep their work."""
    raw.zrem(k.ready_all(), user)
    for w in workers:
        raw.zrem(k.ready_assigned(w), user)
    raw.zrem(k.backlog(), user)


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_repair_re_readies_stranded_tenants_and_fixes_their_counters(anyqueue, raw):
    k = anyqueue.config.keys
    anyqueue.set_worker_config(WorkerSettings("w-acme", assigned=["acme"]))
    stranded = push(anyqueue, 8, user="acme") + push(anyqueue, 2, user="acme", priority=6)
    fine = push(anyqueue, 3, user="bravo")
    strand(raw, k, "acme", workers=["w-acme"])
    assert anyqueue.pop("w-acme") is None  # nothing reaches the tenant's worker

    found = anyqueue.repair_ready(dry_run=True)
    assert (found.tenants, found.tasks, found.counters) == (1, 10, 1)
    assert anyqueue.pop("w-acme") is None  # a dry run changes nothing

    fixed = anyqueue.repair_ready(batch=1)  # one tenant per script call: the cursor walks them all
    assert (fixed.tenants, fixed.tasks, fixed.counters, fixed.gauges) == (1, 10, 1, 0)
    assert raw.zscore(k.backlog(), "acme") == 10
    assert anyqueue.repair_ready() == type(fixed)(0, 0, 0, 0)  # idempotent
    assert sorted(drain(anyqueue, "w-acme")) == sorted(stranded)
    assert sorted(drain(anyqueue, "w-any")) == sorted(fine)


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_repair_fixes_the_queued_gauge_and_leaves_paused_tenants_unready(queue, raw):
    k = queue.config.keys
    push(queue, 4, user="acme")
    push(queue, 2, user="zulu")
    queue.set_tenant(TenantSettings("zulu", paused=True))
    strand(raw, k, "acme")
    raw.zrem(k.backlog(), "zulu")
    raw.hincrby(k.stats_user("acme"), "queued", -3)
    raw.hincrby(k.stats_prio(3), "queued", -3)
    fixed = queue.repair_ready()
    assert (fixed.tenants, fixed.tasks, fixed.counters, fixed.gauges) == (1, 4, 2, 1)
    assert queue.stats()["queued"] == 6 and queue.tenant_stats("acme")["queued"] == 4
    assert raw.zscore(k.ready_all(), "zulu") is None and raw.zscore(k.backlog(), "zulu") == 2
    assert len(drain(queue)) == 4


@pytest.mark.one_shard("reads or plants its queue's keys by name")
@pytest.mark.django_db
def test_syncqueue_repairs_and_reports_stranded_tenants(fq_settings, raw):
    from queueapp import conf

    q = conf.get_queue()
    k = q.config.keys
    push(q, 8, user="acme")
    strand(raw, k, "acme")
    code, out = syncqueue("--check")
    assert code == 1 and "stranded: 1 tenant(s) with 8 queued task(s)" in out
    assert q.pop("w1") is None  # --check changes nothing
    code, out = syncqueue()
    assert code == 0
    assert "repaired 1 stranded tenant(s) with 8 queued task(s); fixed 1 backlog counter(s)" in out
    assert len(drain(q)) == 8
    code, out = syncqueue("--check")
    assert "stranded" not in out


@pytest.mark.one_shard("reads or plants its queue's keys by name")
@pytest.mark.django_db
def test_syncqueue_releases_tasks_a_lost_release_left_waiting(fq_settings, raw):
    from queueapp import conf
    from queueapp.engine import State, Task

    q = conf.get_queue()
    k = q.config.keys
    q.push(Task("demo.noop", id="dep", user="acme"))
    q.push(Task("demo.noop", id="after", user="acme", depends_on=("dep",)))
    raw.hdel(k.task("dep"), "dependents")  # a partial restore lost the flag: the ack releases nothing
    q.pop("w1").ack()
    assert q.get_task("after").state == State.DEFERRED
    code, out = syncqueue("--check")
    assert code == 1 and "dependencies: 1 task(s) still waiting on dependencies that all succeeded" in out
    code, out = syncqueue()
    assert code == 0 and "released 1 task(s) whose dependencies had all succeeded" in out
    assert q.get_task("after").state == State.QUEUED
    code, out = syncqueue("--check")
    assert "dependencies:" not in out
