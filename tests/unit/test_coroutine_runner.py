"""The worker's event loop (engine/coroutines.py) on its own: outcomes, the timeout
told apart from a task's own TimeoutError, and stop() cancelling what still runs."""

from __future__ import annotations

import asyncio
import queue as queues
import threading

from queueapp.engine import Task
from queueapp.engine.coroutines import CoroutineRunner
from queueapp.engine.errors import UnknownTask
from queueapp.engine.lease import Lease


async def execute(task: Task):
    kind, *rest = task.args
    if kind == "sleep":
        await asyncio.sleep(rest[0])
        return threading.current_thread().name
    if kind == "own-timeout":
        raise TimeoutError("the task's own")
    if kind == "unknown":
        raise UnknownTask("nope")
    if kind == "awaits-cancelled":
        future = asyncio.get_running_loop().create_future()
        future.cancel()
        await future  # raises CancelledError: the task's own failure, not a stop
    if kind == "exit":
        raise SystemExit(3)
    raise ValueError(kind)


def run(*tasks: Task, stop_after: float | None = None):
    got: queues.SimpleQueue = queues.SimpleQueue()
    runner = CoroutineRunner(execute, lambda lease, outcome: got.put((lease.id, outcome)))
    for t in tasks:
        runner.submit(Lease(t, f"tok-{t.id}", "w1"))
    if stop_after is not None:
        threading.Event().wait(stop_after)
        return runner.stop(), got
    outcomes = dict(got.get(timeout=30) for _ in tasks)
    runner.stop()
    return outcomes


def test_a_result_an_error_and_an_unknown_task():
    out = run(
        Task("f", args=["sleep", 0.01], id="a"), Task("f", args=["boom"], id="b"), Task("f", args=["unknown"], id="c")
    )
    assert out["a"].ok and out["a"].result == "event-loop" and out["a"].duration > 0
    assert not out["b"].ok and out["b"].reason == "error" and isinstance(out["b"].error, ValueError)
    assert out["c"].reason == "unknown_task" and not out["c"].retry


def test_the_timeout_cancels_and_a_tasks_own_timeout_error_is_an_error():
    out = run(
        Task("f", args=["sleep", 30], id="slow", timeout=0.2),
        Task("f", args=["own-timeout"], id="own", timeout=30),
        Task("f", args=["own-timeout"], id="own-untimed"),
    )
    assert out["slow"].reason == "timeout" and "0.2 s timeout" in str(out["slow"].error)
    assert out["slow"].duration < 10  # cancelled, not waited for
    assert out["own"].reason == "error" and isinstance(out["own"].error, TimeoutError)
    assert out["own-untimed"].reason == "error"


def test_many_run_at_once():
    out = run(*[Task("f", args=["sleep", 0.5], id=f"t{i}") for i in range(300)])
    assert len(out) == 300 and all(o.ok for o in out.values())
    assert max(o.duration for o in out.values()) < 20  # concurrently: one at a time would be 150 s


def test_stop_cancels_what_still_runs_and_reports_none_of_it():
    cancelled, got = run(Task("f", args=["sleep", 60], id="x"), Task("f", args=["sleep", 0], id="y"), stop_after=0.5)
    assert cancelled == 1
    assert [got.get_nowait()[0]] == ["y"] and got.empty()  # x was cancelled: released, not reported


def test_a_cancelled_error_or_system_exit_of_the_task_is_its_failure_and_the_loop_goes_on():
    out = run(
        Task("f", args=["awaits-cancelled"], id="c"),
        Task("f", args=["exit"], id="x"),
        Task("f", args=["sleep", 0.2], id="after"),
    )
    assert not out["c"].ok and isinstance(out["c"].error, asyncio.CancelledError)
    assert not out["x"].ok and isinstance(out["x"].error, SystemExit)
    assert out["after"].ok  # the loop survived both
