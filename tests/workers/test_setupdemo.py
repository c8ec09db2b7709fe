"""`manage.py setupdemo` (what `make run` shows): the login, tenants, workers, a
schedule and demo tasks, among them a pipeline that a real worker then runs."""

from __future__ import annotations

import pytest

from queueapp.engine import State
from tests.commands import run
from tests.processes import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_setupdemo_enqueues_a_pipeline_that_runs_to_completion(fq_settings, queue, env, workers, tmp_path):
    code, out = run("setupdemo", "--noisy", "10", "--admin-password-file", str(tmp_path / "pw"))
    assert code == 0 and "login: admin / " in out and "the pipeline demo-etl (4 steps) for user:4" in out
    runs, total = queue.pipelines()
    assert total == 1 and runs[0].name == "demo-etl" and runs[0].user == "user:4"
    workers(env, "--worker-id", "w-demo", "--concurrency", "4")
    wait_for(lambda: queue.pipeline(runs[0].id).finished, timeout=120, what="the demo pipeline finished")
    run_ = queue.pipeline(runs[0].id)
    assert run_.counts["succeeded"] == 4
    load = queue.get_task(run_.steps["load"])
    assert load.state == State.SUCCEEDED
    assert load.return_value == {"loaded": [f"DEMO.CSV:{i}" for i in range(5)], "counted": 5}
