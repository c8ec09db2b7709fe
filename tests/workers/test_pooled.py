"""Issue 11: a worker with many slots runs pooled (dispatch.py): one dispatcher acks
finished tasks and leases exactly as many tasks as slots are free, in fair order, in one
call per round. Real Redis, the engine Worker in this process, tasks that take time."""

from __future__ import annotations

import dataclasses
import threading
import time

from queueapp.engine import State, Task
from queueapp.engine.worker import Worker, WorkerOptions
from tests.processes import run_in_thread, wait_for


def test_a_pooled_worker_batches_its_round_trips(queue, rclient):
    queue.push_many([Task("demo.noop", args=[i], user=f"u{i % 5}") for i in range(400)])
    stats = rclient.info("commandstats")
    before = sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("fcall", "evalsha"))
    # instant tasks: the slots finish while the dispatcher waits on its round trip, so its next
    # call acks them together. (Tasks of a few ms finish apart on a quiet machine and the
    # dispatcher, which never lingers, acks them one by one: 2 ms tasks made 319 calls here.)
    worker = Worker(queue, WorkerOptions("w-pool", concurrency=8, burst=True), lambda task: None)
    assert worker.run() == 0
    assert worker._dispatcher is not None  # concurrency > 1 runs pooled by default
    stats = rclient.info("commandstats")
    calls = sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("fcall", "evalsha")) - before
    assert queue.stats()["succeeded"] == 400 and worker.processed == 400
    # one script call per task would be 400; several tasks share a round (heartbeats, promote
    # and reap ticks add a few calls of their own)
    assert calls < 300, calls


def test_prefetch_is_fair_a_noisy_tenant_does_not_fill_the_slots(queue):
    """A heavy tenant's 300 tasks are queued first, then 5 light tenants' 10 each: every light
    task starts within the first 60 + 8 (the pops of one round rotate over the tenants)."""
    queue.push_many([Task("demo.noop", args=["heavy"], user="heavy") for _ in range(300)])
    queue.push_many([Task("demo.noop", args=[f"l{u}"], user=f"light{u}") for u in range(5) for _ in range(10)])
    order: list[str] = []
    lock = threading.Lock()

    def execute(task):
        with lock:
            order.append(task.args[0])
        time.sleep(0.002)

    worker = Worker(queue, WorkerOptions("w-fair", concurrency=8, burst=True), execute)
    assert worker.run() == 0
    assert len(order) == 350
    light = [i + 1 for i, who in enumerate(order) if who != "heavy"]
    assert len(light) == 50 and max(light) <= 68, light


def test_stop_lets_running_tasks_finish_and_nothing_else_starts(queue):
    queue.push_many([Task("demo.slow", args=[i], user=f"u{i % 4}") for i in range(40)])
    started = []
    lock = threading.Lock()

    def execute(task):
        with lock:
            started.append(task.id)
        time.sleep(0.3)

    worker = Worker(queue, WorkerOptions("w-stop", concurrency=8, grace_seconds=30), execute)
    thread = run_in_thread(worker)
    wait_for(lambda: len(started) >= 8, timeout=30, what="8 tasks running")
    worker.request_stop()
    thread.join(60)
    assert not thread.is_alive()
    stats = queue.stats()
    assert stats["succeeded"] == len(started) and stats["running"] == 0
    assert stats["queued"] == 40 - len(started)  # lost = 0: the rest wait in their lanes
    assert len(started) <= 16  # at most a second round began while the stop was requested


def test_tasks_past_the_grace_are_released_and_run_again(queue):
    ids = [r.id for r in queue.push_many([Task("demo.block", args=[i], user="acme") for i in range(4)])]
    release = threading.Event()
    running = []

    def execute(task):
        running.append(task.id)
        release.wait(60)

    worker = Worker(queue, WorkerOptions("w-grace", concurrency=4, grace_seconds=0.5), execute)
    thread = run_in_thread(worker)
    wait_for(lambda: len(running) == 4, timeout=30, what="4 tasks running")
    worker.request_stop()
    thread.join(30)
    assert not thread.is_alive()
    release.set()
    assert {queue.get_task(i).state for i in ids} == {State.QUEUED}
    stats = queue.stats()
    assert (stats["queued"], stats["running"], stats["released"]) == (4, 0, 4)
    rerun = Worker(queue, WorkerOptions("w-again", concurrency=4, burst=True), lambda task: None)
    assert rerun.run() == 0 and queue.stats()["succeeded"] == 4


def test_failures_and_bad_results_follow_their_policy_in_the_pool(queue, config):
    fast = dataclasses.replace(config, max_retries=1)
    q = type(queue)(queue.redis, fast)
    boom = q.push(Task("demo.boom", user="acme", max_retries=1)).id
    bad = q.push(Task("demo.bad_result", user="acme")).id
    good = [r.id for r in q.push_many([Task("demo.ok", args=[i], user="zulu") for i in range(20)])]

    def execute(task):
        if task.func == "demo.boom":
            raise RuntimeError("boom")
        if task.func == "demo.bad_result":
            return object()  # not JSON
        return task.args[0]

    worker = Worker(q, WorkerOptions("w-fail", concurrency=4, burst=True, poll_interval=0.05), execute)
    assert worker.run() == 0
    assert q.get_task(boom).state == State.DEAD and q.get_task(boom).failures == 2  # first run + 1 retry
    assert q.get_task(bad).state == State.DEAD and q.get_task(bad).dead_reason == "invalid_result"
    assert [q.get_task(i).return_value for i in good] == list(range(20))
    assert worker.failed == 3 and worker.processed == 23


def test_the_pool_shrinks_and_grows_while_it_runs(queue):
    queue.push_many([Task("demo.noop", args=[i], user=f"u{i % 3}") for i in range(30)])
    worker = Worker(queue, WorkerOptions("w-size", concurrency=4), lambda task: time.sleep(0.01))
    thread = run_in_thread(worker)
    try:
        wait_for(lambda: worker.active_slots() == 4, timeout=30, what="4 slots")
        worker._resize(2)
        wait_for(lambda: worker.active_slots() == 2, timeout=30, what="2 slots")
        worker._resize(6)
        wait_for(lambda: worker.active_slots() == 6, timeout=30, what="6 slots")
        queue.push_many([Task("demo.noop", args=[i], user="late") for i in range(30)])
        wait_for(lambda: queue.stats()["succeeded"] == 60, timeout=60, what="all 60 tasks")
    finally:
        worker.request_stop()
        thread.join(30)
    assert not thread.is_alive() and queue.stats()["running"] == 0


def test_a_failing_before_task_hook_strands_nothing(queue):
    """Django's close_old_connections raising (a DB outage) must not kill a slot holding a lease."""
    calls = []

    def flaky_hook():
        calls.append(1)
        if len(calls) % 3 == 0:
            raise RuntimeError("database went away")

    for n, concurrency in enumerate((1, 4), start=1):
        queue.push_many([Task("demo.noop", args=[i], user=f"u{i % 3}") for i in range(12)])
        options = WorkerOptions(f"w-hook{concurrency}", concurrency=concurrency, burst=True)
        worker = Worker(queue, options, lambda task: None, before_task=flaky_hook)
        assert worker.run() == 0 and worker.processed == 12
        stats = queue.stats()
        assert (stats["succeeded"], stats["running"], stats["queued"]) == (12 * n, 0, 0)
    assert len(calls) == 24
