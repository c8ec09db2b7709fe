"""Issue 10, item 7: the heartbeat warns "lease lost" only for leases really lost
(expired and handed on), never for tasks the worker finished meanwhile. Real
Redis, the engine Worker in this process."""

from __future__ import annotations

import dataclasses
import logging
import threading

from queueapp.engine import Task
from queueapp.engine.worker import Worker, WorkerOptions
from tests.processes import wait_for

LOST = "lease lost"


def lost_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "fairqueue.worker" and LOST in r.getMessage()]


def test_a_healthy_worker_reports_no_lost_lease(make_queue, config, caplog):
    """As reported: lease 1 s, 3,000 tasks of 2 ms, concurrency 8 gave 18 false warnings."""
    caplog.set_level(logging.INFO, logger="fairqueue.worker")
    queue = make_queue(dataclasses.replace(config, lease_seconds=1))
    queue.push_many([Task("demo.sleep", args=[0.002], user=f"u{i % 5}") for i in range(3000)])

    def execute(task):
        threading.Event().wait(task.args[0])

    worker = Worker(queue, WorkerOptions("w-healthy", concurrency=8, burst=True, grace_seconds=10), execute)
    assert worker.run() == 0
    stats = queue.stats()
    assert (stats["succeeded"], stats["expired"], stats["queued"], stats["running"]) == (3000, 0, 0, 0)
    assert worker.processed == 3000
    assert lost_warnings(caplog) == []


def test_a_lease_really_lost_is_still_reported(make_queue, config, caplog):
    """The task's lease expires and another worker takes it while this one still runs it."""
    caplog.set_level(logging.INFO, logger="fairqueue.worker")
    queue = make_queue(dataclasses.replace(config, lease_seconds=1))
    k = queue.config.keys
    task_id = queue.push(Task("demo.slow", user="acme")).id
    started, finish = threading.Event(), threading.Event()

    def execute(task):
        started.set()
        assert finish.wait(60)

    worker = Worker(queue, WorkerOptions("w-slow", concurrency=1, grace_seconds=10, reap_interval=3600), execute)
    runner = threading.Thread(target=worker.run)
    runner.start()
    try:
        assert started.wait(30)
        queue.redis.zadd(k.running(), {task_id: 0})  # its deadline passed (a long pause, a partition)
        assert queue.reap() == (1, 0)
        other = queue.pop("w-other")
        assert other is not None and other.id == task_id
        wait_for(lambda: lost_warnings(caplog), timeout=30, what="the lost-lease warning")
        assert all(task_id in line for line in lost_warnings(caplog))
        finish.set()
        wait_for(lambda: worker.processed == 1, timeout=30, what="the outcome")
        other.ack(None)
    finally:
        finish.set()
        worker.request_stop()
        runner.join(30)
    assert not runner.is_alive()
    assert queue.get_task(task_id).worker == "w-other"
    assert any("stale" in r.getMessage() for r in caplog.records if task_id in r.getMessage())
