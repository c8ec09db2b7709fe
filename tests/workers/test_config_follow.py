"""Configuration made in the Django DB reaches running `runworker` processes:
assignments, disabling and concurrency within seconds, without a restart; and
the demo's two mirrored workers serve their own tenants before stealing."""

from __future__ import annotations

import time

import pytest

from queueapp.engine import Task
from queueapp.models import Tenant, WorkerConfig
from tests.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def record(tag, user, ms=0):
    return Task("tests.fixture_tasks.record", args=[tag, ms], user=user)


def served_users(queue, ids):
    """{task id: user} of the tasks that have run (or started)."""
    tasks = [queue.get_task(i) for i in ids]
    return {t.id: t.user for t in tasks if t.started_at}


def test_an_assignment_changed_in_the_db_reaches_a_running_worker_at_once(fq_settings, queue, env, workers):
    """Assignments live in Redis and every pop reads them: no poll to wait for (generous limit)."""
    a, b = Tenant.objects.create(key="a"), Tenant.objects.create(key="b")
    config = WorkerConfig.objects.create(worker_id="w1")
    config.assigned_users.set([a])
    ids_a = [t.id for t in queue.push_many([record(f"a{i}", "a", 20) for i in range(400)])]
    ids_b = [t.id for t in queue.push_many([record(f"b{i}", "b", 20) for i in range(400)])]
    workers(env, "--worker-id", "w1")
    wait_for(lambda: len(served_users(queue, ids_a[:20])) >= 5, what="w1 serving tenant a")
    assert served_users(queue, ids_b) == {}  # b is not w1's
    config.assigned_users.set([b])  # committed: reaches Redis on commit
    wait_for(lambda: served_users(queue, ids_b), timeout=30, what="w1 serving b")
    # a pop is one script: once one served b, none serves a again (checked over a while)
    done_a = len(served_users(queue, ids_a))
    wait_for(lambda: len(served_users(queue, ids_b)) >= 20, timeout=60, what="w1 serving more of b")
    assert len(served_users(queue, ids_a)) == done_a  # no more of a


def test_disabling_a_worker_stops_its_pops_and_it_reports_itself_disabled(fq_settings, queue, env, workers):
    config = WorkerConfig.objects.create(worker_id="w1", steal_all=True)
    env = {**env, "FAIRQUEUE_LEASE_SECONDS": "3"}  # a heartbeat (the worker's report) every second
    workers(env, "--worker-id", "w1")
    wait_for(lambda: state(queue, "w1") == "running", timeout=60, what="heartbeat")
    config.enabled = False
    config.save()  # pops are refused in Redis from this commit on; the worker sees it on its next poll
    wait_for(lambda: state(queue, "w1") == "disabled", timeout=60, what="the worker reporting itself disabled")
    ids = [t.id for t in queue.push_many([record(f"d{i}", "x") for i in range(5)])]
    time.sleep(1.5)  # a while for a (wrong) pop to happen: nothing here waits on the machine's speed
    assert served_users(queue, ids) == {}
    config.enabled = True
    config.save()
    wait_for(lambda: len(served_users(queue, ids)) == 5, timeout=60, what="served again once enabled")


def state(queue, worker):
    return next((w.state for w in queue.workers() if w.worker == worker), None)


def test_concurrency_changed_in_the_db_resizes_a_running_worker(fq_settings, queue, env, workers, raw):
    config = WorkerConfig.objects.create(worker_id="w1", steal_all=True, concurrency=1)
    ids = [t.id for t in queue.push_many([record(f"c{i}", "x", 300) for i in range(40)])]
    workers(env, "--worker-id", "w1", "--concurrency", "1")
    wait_for(lambda: served_users(queue, ids), what="first task")
    assert raw.scard(f"{env['FQ_LEDGER']}:running") <= 1
    config.concurrency = 4
    config.save()
    wait_for(lambda: raw.scard(f"{env['FQ_LEDGER']}:running") == 4, timeout=60, what="four tasks at once")
    wait_for(
        lambda: next(w for w in queue.workers() if w.worker == "w1").concurrency == 4,
        timeout=60,
        what="reported concurrency",
    )


def test_mirrored_workers_serve_their_own_tenants_before_stealing(fq_settings, queue, env, workers):
    tenants = {k: Tenant.objects.create(key=k) for k in ("u1", "u2", "u3", "u4", "u5", "u6")}
    for worker_id, mine, theirs in (("w1", "u1 u3 u5", "u2 u4 u6"), ("w2", "u2 u4 u6", "u1 u3 u5")):
        config = WorkerConfig.objects.create(worker_id=worker_id)
        config.assigned_users.set([tenants[k] for k in mine.split()])
        config.steal_targets.set([tenants[k] for k in theirs.split()])
    light = [record(f"l{i}", f"u{2 * (i % 3) + 1}", 5) for i in range(30)]  # u1, u3, u5: w1's
    heavy = [record(f"h{i}", f"u{2 * (i % 3) + 2}", 5) for i in range(300)]  # u2, u4, u6: w2's
    ids = [t.id for t in queue.push_many(light + heavy)]
    for worker_id in ("w1", "w2"):
        workers(env, "--worker-id", worker_id)
    wait_for(lambda: queue.stats()["succeeded"] == 330, timeout=60, what="all tasks")
    tasks = [queue.get_task(i) for i in ids]
    own = {"w1": {"u1", "u3", "u5"}, "w2": {"u2", "u4", "u6"}}
    for worker_id, mine in own.items():
        served = sorted((t for t in tasks if t.worker == worker_id), key=lambda t: t.history[-2]["at"])
        stolen = [t for t in served if t.user not in mine]
        if stolen:  # it stole only once every task of its own tenants had been taken
            first_steal = stolen[0].history[-2]["at"]
            assert all(t.history[-2]["at"] <= first_steal for t in tasks if t.user in mine)
    assert any(t.worker == "w1" and t.user not in own["w1"] for t in tasks)  # w1 ran out and helped
