"""Faults with real processes: a task that kills its worker every time, and a
Redis that dies under a running worker and comes back."""

from __future__ import annotations

import time

import pytest

from queueapp.engine import EngineConfig, FairQueue, RedisOptions, State, Task, connect
from tests.processes import wait_for, worker_env
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow


def test_a_poison_pill_is_dead_lettered_after_max_deliveries_and_others_finish(queue, env, workers, raw):
    """The worker dies with the task each time; restarted (as a supervisor would), it gets the task
    back after the lease; after max_deliveries the task is dead-lettered, reason lease_expired."""
    env = {**env, "FAIRQUEUE_LEASE_SECONDS": "1", "FAIRQUEUE_MAX_DELIVERIES": "2"}
    pill = queue.push(Task("tests.fixture_tasks.poison", user="evil", max_deliveries=2)).id
    others = [
        t.id
        for t in queue.push_many(
            [Task("tests.fixture_tasks.record", args=[f"ok{i}", 0], user=f"good{i % 3}") for i in range(30)]
        )
    ]
    deadline = time.monotonic() + 60
    while queue.get_task(pill).state != State.DEAD and time.monotonic() < deadline:
        proc = workers(env, "--worker-id", "w1")
        while proc.poll() is None and queue.get_task(pill).state != State.DEAD and time.monotonic() < deadline:
            time.sleep(0.1)
    task = queue.get_task(pill)
    assert task.state == State.DEAD and task.dead_reason == "lease_expired"
    assert int(raw.hget(f"{env['FQ_LEDGER']}:runs", "poison")) == 2  # exactly max_deliveries executions
    workers(env, "--worker-id", "w2", "--burst").wait(30)
    assert all(queue.get_task(i).state == State.SUCCEEDED for i in others)


def test_a_worker_survives_redis_dying_and_coming_back(tmp_path, workers, prefix):
    """Redis is SIGKILLed while the worker runs and restarted 2 s later from its append-only file:
    the same worker process reconnects and finishes every task that was enqueued (lost = 0)."""
    server = RedisServer("--appendonly", "yes", "--appendfsync", "always").start()
    try:
        queue = FairQueue(connect(RedisOptions(url=server.url, retries=2)), EngineConfig(prefix=prefix))
        env = worker_env(server.url, prefix, ledger=f"ledger:{prefix}", FAIRQUEUE_LEASE_SECONDS="2")
        ids = [
            t.id
            for t in queue.push_many(
                [Task("tests.fixture_tasks.record", args=[f"t{i}", 20], user=f"u{i % 4}") for i in range(300)]
            )
        ]
        proc = workers(env, "--worker-id", "w1", "--concurrency", "2")
        wait_for(lambda: queue.stats()["succeeded"] >= 20, what="work under way")
        server.kill()
        time.sleep(2)
        assert proc.poll() is None  # still up, retrying
        server.start()
        wait_for(lambda: queue.stats()["succeeded"] == 300, timeout=90, what="all tasks after the restart")
        assert proc.poll() is None  # the same process, no restart
        assert all(queue.get_task(i).state == State.SUCCEEDED for i in ids)
        assert queue.stats()["running"] == 0 and queue.stats()["queued"] == 0
    finally:
        server.cleanup()
