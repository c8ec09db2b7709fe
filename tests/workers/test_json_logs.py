"""Issue 14: FAIRQUEUE_LOG_FORMAT=json makes every line a daemon writes one JSON object
(the start-up checks and messages included), the task line's fields as keys; --log-level
sets how much. Real runworker and runscheduler processes."""

from __future__ import annotations

import json
import signal

import pytest

from queueapp.engine import State, Task
from tests.processes import wait_for

pytestmark = pytest.mark.slow


def lines(path):
    return [line for line in path.read_text().splitlines() if line.strip()]


def test_every_line_of_a_worker_is_json_with_the_task_fields(queue, env, workers, tmp_path):
    ok = queue.push(Task("queueapp.demo.echo", args=["hi"], user="acme")).id
    bad = queue.push(Task("queueapp.demo.fail", args=["boom"], user="beta", max_retries=0)).id
    unknown = queue.push(Task("os.system", args=["true"], user="acme")).id
    proc = workers({**env, "FAIRQUEUE_LOG_FORMAT": "json"}, "--worker-id", "w-json", "--burst")
    assert proc.wait(90) == 0
    records = [json.loads(line) for line in lines(tmp_path / "runworker-0.log")]  # each line parses
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    tasks = {r["task_id"]: r for r in records if "task_id" in r}
    assert set(tasks) == {ok, bad, unknown}
    assert tasks[ok]["outcome"] == "succeeded" and tasks[ok]["tenant"] == "acme" and tasks[ok]["worker"] == "w-json"
    assert tasks[ok]["func"] == "queueapp.demo.echo" and tasks[ok]["delivery"] == 1
    assert isinstance(tasks[ok]["duration_ms"], float)
    assert tasks[bad]["outcome"].startswith("dead") and tasks[unknown]["outcome"] == "dead:unknown_task"
    messages = " ".join(r["message"] for r in records)
    assert "fairqueue.W002" in messages and "registered task(s)" in messages  # said as records too
    assert queue.get_task(ok).state == State.SUCCEEDED


def test_the_text_line_has_the_same_fields(queue, env, workers, tmp_path):
    task_id = queue.push(Task("queueapp.demo.echo", args=["hi"], user="acme")).id
    assert workers(env, "--worker-id", "w-text", "--burst").wait(120) == 0
    line = next(x for x in lines(tmp_path / "runworker-0.log") if task_id in x)
    for field in (f"task={task_id}", "user=acme", "func=queueapp.demo.echo", "delivery=1", "outcome=succeeded"):
        assert field in line
    assert "duration_ms=" in line and line.endswith("worker=w-text")


def test_log_level_warning_leaves_out_the_line_per_task(queue, env, workers, tmp_path):
    task_id = queue.push(Task("queueapp.demo.echo", args=["hi"], user="acme")).id
    assert workers(env, "--worker-id", "w-quiet", "--burst", "--log-level", "warning").wait(120) == 0
    assert queue.get_task(task_id).state == State.SUCCEEDED
    assert task_id not in (tmp_path / "runworker-0.log").read_text()


def test_a_bad_log_level_or_format_is_a_clear_error(env, workers, tmp_path):
    assert workers(env, "--worker-id", "w1", "--log-level", "loud").wait(60) == 2
    assert "invalid choice: 'LOUD'" in (tmp_path / "runworker-0.log").read_text()
    assert workers({**env, "FAIRQUEUE_LOG_FORMAT": "yaml"}, "--worker-id", "w1").wait(60) == 1
    text = (tmp_path / "runworker-1.log").read_text()
    assert "FAIRQUEUE_LOG_FORMAT must be text or json" in text and "Traceback" not in text


def test_every_line_of_the_scheduler_is_json(env, schedulers, tmp_path):
    proc = schedulers({**env, "FAIRQUEUE_LOG_FORMAT": "json"}, "--log-level", "debug")
    log = tmp_path / "runscheduler-0.log"
    wait_for(lambda: log.exists() and "leader" in log.read_text(), timeout=60, what="the scheduler leading")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    records = [json.loads(line) for line in lines(log)]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["logger"] == "fairqueue.scheduler" and "leader" in r["message"] for r in records)


def test_a_start_up_error_is_json_too(env, workers, tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**env, "FAIRQUEUE_LOG_FORMAT": "json", "REDIS_URL": f"redis://127.0.0.1:{port}/0", "DEBUG": "1"}
    assert workers(env, "--worker-id", "w1").wait(90) == 1
    records = [json.loads(line) for line in lines(tmp_path / "runworker-0.log")]
    assert any(r["level"] == "ERROR" and "fairqueue.E003" in r["message"] for r in records)
