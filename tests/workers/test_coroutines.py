"""Issue 13: `async def` tasks run concurrently on the worker's own event loop,
beside the thread pool, with real cancellation. Real `runworker` processes;
the tasks (tests/coroutine_tasks.py) write their ledger through redis.asyncio."""

from __future__ import annotations

import signal

import pytest

from queueapp.engine import State, Task
from queueapp.engine.workflows import TENANT_SCOPE
from tests.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("fq_settings")]
MODULES = "queueapp.demo,tests.fixture_tasks,tests.coroutine_tasks"


@pytest.fixture
def aenv(env):
    return {**env, "FAIRQUEUE_TASK_MODULES": MODULES}


def nap(tag, ms, user="acme"):
    return Task("tests.coroutine_tasks.nap", args=[tag, ms], user=user, coroutine=True)


def states(queue, ids):
    return [queue.get_task(i).state for i in ids]


def test_coroutines_run_at_once_on_the_loop_while_threads_drain_sync_tasks(queue, aenv, raw, workers):
    naps = [r.id for r in queue.push_many([nap(f"n{i % 3}", 500, user=f"t{i % 4}") for i in range(150)])]
    syncs = [r.id for r in queue.push_many([Task("tests.fixture_tasks.record", args=[f"s{i}", 5]) for i in range(30)])]
    proc = workers(aenv, "--worker-id", "w1", "--concurrency", "2", "--async-concurrency", "50", "--burst")
    assert proc.wait(120) == 0
    assert set(states(queue, naps + syncs)) == {State.SUCCEEDED}
    key = aenv["FQ_LEDGER"]
    assert int(raw.get(f"{key}:peak")) == 50  # all 50 coroutine slots used, never more
    assert set(raw.lrange(f"{key}:threads", 0, -1)) == {"event-loop"}  # not one per thread
    assert int(raw.get(f"{key}:inflight")) == 0


def test_a_django_async_task_is_marked_and_runs_on_the_loop(queue, aenv, raw, workers):
    from tests.coroutine_tasks import greet

    result = greet.using(user="acme").enqueue("ann")
    assert queue.get_task(result.id).coroutine
    workers(aenv, "--worker-id", "w1", "--burst").wait(60)
    task = queue.get_task(result.id)
    assert task.state == State.SUCCEEDED and task.return_value == "hello ann"
    assert queue.xcom_pull("acme", TENANT_SCOPE, "greeting") == (True, "hello ann")  # via axcom_push


def test_an_async_task_past_its_timeout_is_cancelled_retried_and_dead_lettered(queue, aenv, ledger, raw, workers):
    from tests.coroutine_tasks import overrun

    task_id = overrun.using(user="acme").enqueue(60_000).id
    workers(aenv, "--worker-id", "w1")
    wait_for(lambda: queue.get_task(task_id).state == State.DEAD, timeout=60, what="timed-out task dead")
    task = queue.get_task(task_id)
    assert task.dead_reason == "timeout" and task.failures == 2 and "TaskTimeout" in task.error["type"]
    assert ledger.runs("overrun") == 2
    assert int(raw.hget(f"{aenv['FQ_LEDGER']}:finally", "overrun")) == 2  # cancelled: its finally ran


def test_sigterm_with_50_coroutines_in_flight_loses_none(queue, aenv, raw, workers):
    short = [queue.push(nap(f"short{i}", 1000)).id for i in range(25)]
    long = [queue.push(nap(f"long{i}", 8000)).id for i in range(25)]
    key = aenv["FQ_LEDGER"]
    first = workers(aenv, "--worker-id", "w1", "--async-concurrency", "100", "--grace", "4")
    wait_for(lambda: int(raw.get(f"{key}:inflight") or 0) == 50, timeout=60, what="50 coroutines in flight")
    first.send_signal(signal.SIGTERM)
    assert first.wait(60) == 0
    assert states(queue, short) == [State.SUCCEEDED] * 25  # finished within the grace
    assert states(queue, long) == [State.QUEUED] * 25  # cancelled and released: back at once
    assert int(raw.get(f"{key}:inflight")) == 0  # the cancelled ones' finally ran
    assert queue.stats()["running"] == 0 and queue.stats()["released"] == 25
    workers(aenv, "--worker-id", "w2", "--burst").wait(60)
    assert states(queue, short + long) == [State.SUCCEEDED] * 50  # lost = 0
    runs = {tag: int(n) for tag, n in raw.hgetall(f"{key}:runs").items()}
    assert all(runs[f"short{i}"] == 1 and runs[f"long{i}"] == 2 for i in range(25))


def test_async_concurrency_0_runs_coroutines_in_the_threads(queue, aenv, raw, workers):
    ids = [queue.push(nap(f"z{i}", 10)).id for i in range(6)]
    proc = workers(aenv, "--worker-id", "w1", "--concurrency", "2", "--async-concurrency", "0", "--burst")
    assert proc.wait(60) == 0
    assert states(queue, ids) == [State.SUCCEEDED] * 6
    assert "event-loop" not in set(raw.lrange(f"{aenv['FQ_LEDGER']}:threads", 0, -1))


def test_a_bad_async_concurrency_is_a_clear_error(aenv, workers, tmp_path):
    proc = workers(aenv, "--worker-id", "w1", "--async-concurrency", "-3")
    assert proc.wait(60) == 2
    log = (tmp_path / "runworker-0.log").read_text()
    assert "--async-concurrency: invalid non_negative_int value: '-3'" in log and "Traceback" not in log


def test_the_heartbeat_keeps_a_long_coroutine_leased(queue, aenv, raw, workers):
    env = {**aenv, "FAIRQUEUE_LEASE_SECONDS": "1"}
    task_id = queue.push(nap("longer-than-its-lease", 3500)).id
    workers(env, "--worker-id", "w1")
    workers(env, "--worker-id", "w2")  # would take it over if its lease lapsed
    wait_for(lambda: queue.get_task(task_id).state == State.SUCCEEDED, timeout=60, what="the long coroutine done")
    assert int(raw.hget(f"{aenv['FQ_LEDGER']}:runs", "longer-than-its-lease")) == 1
    assert queue.get_task(task_id).deliveries == 1


def test_a_burst_worker_does_not_stop_while_coroutines_wait_behind_sync_tasks(queue, aenv, workers):
    """Every tenant's next task is sync while the threads are busy: the coroutine slots find
    nothing and are offered less often for a while; the burst exit must not take that for idle."""
    syncs = [
        queue.push(Task("tests.fixture_tasks.record", args=[f"s{i}", 150], user=f"t{i % 6}")).id for i in range(12)
    ]
    naps = [r.id for r in queue.push_many([nap(f"n{i}", 10, user=f"t{i % 6}") for i in range(120)])]
    proc = workers(aenv, "--worker-id", "w1", "--concurrency", "2", "--async-concurrency", "20", "--burst")
    assert proc.wait(120) == 0
    assert set(states(queue, syncs + naps)) == {State.SUCCEEDED}
