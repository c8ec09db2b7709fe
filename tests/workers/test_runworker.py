"""Real `manage.py runworker` processes: retries, refusal of unregistered
tasks, timeouts, graceful and forced stops, SIGKILL, concurrent workers."""

from __future__ import annotations

import signal
import time

import pytest

from queueapp.engine import State, Task
from tests.processes import wait_for

pytestmark = pytest.mark.slow


def record(tag, ms=0, user="acme", **kw):
    return Task("tests.fixture_tasks.record", args=[tag, ms], user=user, **kw)


def states(queue, ids):
    return [queue.get_task(i).state for i in ids]


def test_a_raising_task_is_retried_with_backoff_then_dead_lettered(queue, env, ledger, workers):
    task_id = queue.push(Task("tests.fixture_tasks.flaky", args=["kaput"], max_retries=2)).id
    workers(env, "--worker-id", "w1")
    wait_for(lambda: queue.get_task(task_id).state == State.DEAD, what="dead letter")
    task = queue.get_task(task_id)
    assert ledger.runs("flaky") == 3 and task.failures == 3
    assert task.dead_reason == "max_retries"
    assert "ValueError: kaput" in task.error["traceback"]
    starts = [h["at"] for h in task.history if h["state"] == "running"]
    assert len(starts) == 3 and all(b - a >= 50 for a, b in zip(starts, starts[1:], strict=False))


def test_a_path_that_is_not_a_registered_task_is_refused_unimported(queue, env, workers, tmp_path):
    ids = [
        queue.push(Task(path, args=["touch /tmp/fq-pwned"])).id
        for path in ("os.system", "tests.evil_module.boom", "builtins.eval")
    ]
    workers(env, "--worker-id", "w1")
    wait_for(lambda: all(s == State.DEAD for s in states(queue, ids)), what="unknown tasks dead-lettered")
    for task_id in ids:
        task = queue.get_task(task_id)
        assert task.dead_reason == "unknown_task" and task.failures == 1
        assert "not a registered task" in task.error["message"]
    assert not (tmp_path / "evil-imported").exists()


def test_timeout_fails_the_task_and_the_worker_goes_on(queue, env, ledger, workers):
    slow = queue.push(Task("tests.fixture_tasks.slow", args=[3000], timeout=0.3, max_retries=1)).id
    quick = queue.push(record("after-timeout")).id
    workers(env, "--worker-id", "w1")
    wait_for(lambda: queue.get_task(slow).state == State.DEAD, timeout=60, what="timed-out task dead")
    task = queue.get_task(slow)
    assert task.dead_reason == "timeout" and ledger.runs("slow") == 2
    assert "TaskTimeout" in task.error["type"]
    wait_for(lambda: queue.get_task(quick).state == State.SUCCEEDED, what="next task")


def test_graceful_sigterm_finishes_running_tasks_and_runs_nothing_twice(queue, env, ledger, workers, raw):
    long_ids = [queue.push(record(f"long{i}", 3000)).id for i in range(4)]
    rest = [queue.push(record(f"short{i}")).id for i in range(20)]
    proc = workers(env, "--worker-id", "w1", "--concurrency", "4", "--grace", "60")
    wait_for(lambda: ledger.running() == 4, what="four long tasks running")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    assert states(queue, long_ids) == [State.SUCCEEDED] * 4
    not_run = [i for i in rest if queue.get_task(i).state == State.QUEUED]
    assert queue.stats()["running"] == 0 and len(not_run) >= 16
    workers(env, "--worker-id", "w2", "--burst").wait(60)
    assert states(queue, long_ids + rest) == [State.SUCCEEDED] * 24
    assert all(ledger.runs(f"long{i}") == 1 for i in range(4))
    assert all(ledger.runs(f"short{i}") == 1 for i in range(20))


def test_tasks_still_running_after_the_grace_period_are_released_at_once(queue, env, ledger, workers):
    ids = [queue.push(record(f"stuck{i}", 60_000)).id for i in range(2)]
    proc = workers(env, "--worker-id", "w1", "--concurrency", "2", "--grace", "0.5")
    wait_for(lambda: ledger.running() == 2, what="two tasks running")
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(40) == 0 and time.monotonic() - started < 40  # long before the tasks could end
    assert states(queue, ids) == [State.QUEUED] * 2  # back at once, no lease wait
    assert [queue.get_task(i).deliveries for i in ids] == [0, 0]  # a release is not a delivery
    assert queue.stats()["released"] == 2


def test_sigkill_with_tasks_in_flight_loses_nothing(queue, env, ledger, workers):
    env = {**env, "FAIRQUEUE_LEASE_SECONDS": "1"}
    ids = [queue.push(record(f"k{i}", 150, user=f"t{i % 5}")).id for i in range(60)]
    first = workers(env, "--worker-id", "w1", "--concurrency", "4")
    wait_for(
        lambda: ledger.running() >= 3 and sum(ledger.done(f"k{i}") for i in range(60)) >= 4, what="tasks in flight"
    )
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    in_flight = queue.stats()["running"]
    assert in_flight >= 1
    workers(env, "--worker-id", "w2", "--concurrency", "4")
    wait_for(
        lambda: all(s in (State.SUCCEEDED, State.DEAD) for s in states(queue, ids)),
        timeout=60,
        what="every task finished after the lease expired",
    )
    final = [queue.get_task(i) for i in ids]
    assert all(t.state == State.SUCCEEDED for t in final)  # lost = 0
    assert all(ledger.done(f"k{i}") >= 1 for i in range(60))
    rerun = [t for t in final if ledger.runs(t.args[0]) > 1]
    assert len(rerun) <= in_flight + 4 and all(t.deliveries >= 2 for t in rerun)
    assert queue.stats()["expired"] >= in_flight


def test_two_workers_never_run_the_same_task_at_the_same_time(queue, env, ledger, workers):
    for name in ("w1", "w2"):
        workers(env, "--worker-id", name, "--concurrency", "4")
    # both up before there is work: on a loaded machine the first could run it all while the other boots
    wait_for(lambda: {w.worker for w in queue.workers()} >= {"w1", "w2"}, timeout=60, what="both workers up")
    ids = [t.id for t in queue.push_many([record(f"c{i}", 20, user=f"t{i % 7}") for i in range(300)])]
    wait_for(lambda: queue.stats()["succeeded"] == 300, timeout=120, what="all 300 tasks")
    assert ledger.overlaps() == []
    assert all(ledger.runs(f"c{i}") == 1 for i in range(300))
    assert {t.worker for t in (queue.get_task(i) for i in ids)} == {"w1", "w2"}


def test_burst_worker_runs_what_is_due_then_exits(queue, env, workers):
    now_ms = int(time.time() * 1000)
    ids = [queue.push(record(f"b{i}")).id for i in range(5)]
    ids.append(queue.push(record("later", run_after=now_ms + 600)).id)
    proc = workers(env, "--worker-id", "w1", "--burst")
    assert proc.wait(60) == 0
    assert states(queue, ids) == [State.SUCCEEDED] * 6


def test_task_taking_context_gets_its_result_id(queue, env, raw, workers):
    task_id = queue.push(Task("tests.fixture_tasks.whoami", args=["ctx"])).id
    workers(env, "--worker-id", "w1", "--burst").wait(20)
    assert queue.get_task(task_id).return_value == task_id
    assert raw.lrange(f"{env['FQ_LEDGER']}:whoami", 0, -1) == [f"ctx:{task_id}:1"]


def test_a_second_signal_gives_running_tasks_back_and_exits_at_once(queue, env, ledger, workers):
    ids = [queue.push(record(f"held{i}", 60_000)).id for i in range(2)]
    proc = workers(env, "--worker-id", "w1", "--concurrency", "2", "--grace", "60")
    wait_for(lambda: ledger.running() == 2, what="two tasks running")
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(40) == 1 and time.monotonic() - started < 40  # not the 60 s grace, nor the tasks
    assert states(queue, ids) == [State.QUEUED] * 2


def test_a_result_that_is_not_json_is_dead_lettered_without_retries(queue, env, workers):
    task_id = queue.push(Task("tests.fixture_tasks.returns_object", max_retries=3)).id
    workers(env, "--worker-id", "w1", "--burst").wait(20)
    task = queue.get_task(task_id)
    assert (task.state, task.dead_reason, task.failures) == (State.DEAD, "invalid_result", 1)
    assert "JSON" in task.error["message"]
