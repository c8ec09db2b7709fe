"""Issue 11: a one-slot worker leases the next task while a short one runs (lease_ahead.py),
so the round trip between tasks overlaps a task. Real Redis, the engine Worker in this
process. Asserts what the queue holds: how many leases at once, every task once, nothing
held behind a long task, nothing lost at a stop."""

from __future__ import annotations

import threading
import time

import pytest

from queueapp.engine import Task
from queueapp.engine.shards import ShardedQueue
from queueapp.engine.worker import Worker, WorkerOptions
from tests.processes import run_in_thread, wait_for


def running_now(queue) -> int:
    """Leases held, read at one instant: a sharded queue's stats() reads its shards one after
    the other (a task acked on one shard and the next leased on another can count twice), so
    its running sets are counted in one MULTI (all shards live on this one Redis here)."""
    if not isinstance(queue, ShardedQueue):
        return queue.stats()["running"]
    pipe = queue.redis.pipeline(transaction=True)
    for shard in queue.shards:
        pipe.zcard(f"{shard.config.prefix}:running")
    return sum(pipe.execute())


def sampler(queue, stop: threading.Event, out: list[int]) -> threading.Thread:
    """Records the running set's size (leases held) every ms while `stop` is clear."""

    def loop():
        while not stop.is_set():
            out.append(running_now(queue))
            time.sleep(0.001)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


@pytest.fixture(params=["own-connection", "helper-thread"])
def either(request, queue, rclient, config):
    """The slot writes its calls on its own connection (a plain FairQueue), or makes them from
    a helper thread (a sharded queue's slot holds no connection of its own)."""
    if request.param == "own-connection":
        if isinstance(queue, ShardedQueue):
            pytest.skip("this run's queue is sharded: the helper-thread case covers it")
        return queue
    return queue if isinstance(queue, ShardedQueue) else ShardedQueue.over(rclient, config, 3)


def test_short_tasks_have_the_next_one_leased_while_they_run_and_run_once_each(either):
    queue = either
    queue.push_many([Task("demo.noop", args=[i], user=f"u{i % 4}") for i in range(200)])
    ran: list[int] = []
    held: list[int] = []
    stop = threading.Event()
    watch = sampler(queue, stop, held)

    def execute(task):
        ran.append(task.args[0])
        time.sleep(0.003)

    worker = Worker(queue, WorkerOptions("w-ahead", burst=True, lease_ahead_ms=50), execute)
    assert worker.run() == 0
    stop.set()
    watch.join(10)
    assert sorted(ran) == list(range(200))  # each task once
    stats = queue.stats()
    assert stats["succeeded"] == 200 and stats["running"] == 0 and stats["queued"] == 0
    assert max(held) == 2  # the one running and the one leased ahead: never more
    assert held.count(2) > len(held) // 4, held  # ... most of the time (3 ms tasks, < 50 ms)


@pytest.mark.one_shard("a plain client writes its calls on the slot's connection (ahead.py)")
@pytest.mark.single_redis("a slot holding one connection (a cluster client routes per call)")
def test_no_op_tasks_also_have_the_next_one_leased_and_keep_the_fair_order(queue, rclient):
    """Sub-millisecond tasks: no thread hand-off, so leasing ahead pays here too. Each task
    sees the running set from another connection: itself and the one leased ahead."""
    queue.push_many([Task("demo.noop", args=[i], user=f"u{i % 4}") for i in range(100)])
    served: list[str] = []
    running: list[int] = []

    def execute(task):
        served.append(task.user)
        running.append(queue.stats()["running"])

    worker = Worker(queue, WorkerOptions("w-noop", burst=True, lease_ahead_ms=20), execute)
    assert worker.run() == 0
    assert sorted(served) == sorted(f"u{i % 4}" for i in range(100))
    stats = queue.stats()
    assert stats["succeeded"] == 100 and stats["running"] == 0 and stats["queued"] == 0
    assert max(running) == 2 and running.count(2) > 80, running  # all but the first few and the last
    for start in range(0, 96, 4):  # the rotation: every tenant once in each run of 4
        assert sorted(served[start : start + 4]) == ["u0", "u1", "u2", "u3"], served


def test_without_lease_ahead_one_task_is_leased_at_a_time(queue):
    queue.push_many([Task("demo.noop", args=[i], user="u") for i in range(60)])
    held: list[int] = []
    stop = threading.Event()
    watch = sampler(queue, stop, held)
    worker = Worker(queue, WorkerOptions("w-one", burst=True, lease_ahead_ms=0), lambda task: time.sleep(0.003))
    assert worker.run() == 0
    stop.set()
    watch.join(10)
    assert queue.stats()["succeeded"] == 60 and max(held) == 1


def test_a_long_task_after_short_ones_gives_the_task_leased_ahead_back(either):
    """Tasks of 3 ms, then one of 2 s: the task leased behind it goes back to its lane within
    the hold (10 x 20 ms), so another worker can take it while the long one runs."""
    queue = either
    queue.push_many([Task("demo.noop", args=[i], user="a") for i in range(20)])
    queue.push(Task("demo.noop", args=["long"], user="a"))
    queue.push_many([Task("demo.noop", args=[f"after{i}"], user="a") for i in range(3)])
    long_started = threading.Event()

    def execute(task):
        if task.args[0] == "long":
            long_started.set()
            time.sleep(2.0)
        else:
            time.sleep(0.003)

    worker = Worker(queue, WorkerOptions("w-long", burst=True, lease_ahead_ms=20), execute)
    thread = run_in_thread(worker)
    assert long_started.wait(30)
    # while the long task runs: it alone is leased; the rest wait in the lane for any worker
    wait_for(lambda: queue.stats()["running"] == 1, timeout=1.5, interval=0.01, what="the leased-ahead task back")
    assert queue.stats()["queued"] == 3
    other = queue.pop("w-other")
    assert other is not None and other.task.args[0] == "after0" and other.task.deliveries == 1
    queue.ack(other)
    thread.join(60)
    assert not thread.is_alive()
    stats = queue.stats()
    assert stats["succeeded"] == 24 and stats["running"] == 0 and stats["queued"] == 0


def test_stop_sends_the_last_ack_and_gives_the_task_leased_ahead_back(queue):
    queue.push_many([Task("demo.noop", args=[i], user=f"u{i % 3}") for i in range(300)])
    ran: list[int] = []

    def execute(task):
        ran.append(task.args[0])
        time.sleep(0.004)

    worker = Worker(queue, WorkerOptions("w-stop", grace_seconds=30, lease_ahead_ms=50), execute)
    thread = run_in_thread(worker)
    wait_for(lambda: len(ran) >= 40, timeout=30, what="40 tasks run")
    worker.request_stop()
    thread.join(60)
    assert not thread.is_alive()
    stats = queue.stats()
    # every task that ran is acked, none is left leased, the rest wait in their lanes (lost = 0)
    assert stats["succeeded"] == len(ran) and stats["running"] == 0
    assert stats["queued"] == 300 - len(ran) and len(set(ran)) == len(ran)
    lease = queue.pop("w-check")
    assert lease is not None and lease.task.deliveries == 1  # the one leased ahead was released
