"""Workflows in a real browser: from the Overview to the Pipelines page, a run's
page that follows a real worker live until the run finishes, the Tasks page with
its filters, and a retry from there; screenshots for docs/screenshots."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from queueapp.engine import State, Task
from tests import workflow_tasks as wt

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_pipeline_run_is_followed_live_on_its_page(operator, site, queue, env, workers, shots):
    run = (wt.extract.bind("s3") >> (wt.part.bind("left") | wt.part.bind("right")) >> wt.load.bind("db")).enqueue(
        user="acme", name="nightly-etl"
    )
    operator.goto(f"{site}/")
    operator.click("main >> text=Pipelines")
    expect(operator.locator("#pipelines")).to_contain_text("nightly-etl")
    shots(operator, "pipelines")
    operator.click(f"text={run.id}")
    steps = operator.locator("ol.steps li")
    expect(steps).to_have_count(4)
    expect(steps.first).to_contain_text("extract")
    expect(steps.last).to_contain_text("after part, part-2")
    expect(operator.locator("#run")).to_contain_text("running")
    shots(operator, "pipeline-waiting")
    workers(env, "--worker-id", "w1", "--concurrency", "2")
    # no reload: the page polls while the run is not finished
    expect(operator.locator("#run .facts")).to_contain_text("finished", timeout=60_000)
    expect(operator.locator("#run")).to_contain_text("4 succeeded")
    expect(operator.locator("#run")).to_contain_text("rows")  # the XCom value the extract step stored
    shots(operator, "pipeline-run")
    operator.click("ol.steps li >> nth=3 >> a")
    expect(operator.locator("#dependencies")).to_contain_text("succeeded")
    shots(operator, "task-detail-dependencies")


def test_tasks_page_filters_and_retries_a_dead_task(operator, site, queue, shots):
    queue.push(Task("queueapp.demo.fail", id="dead-1", user="initech", max_retries=0))
    queue.pop("w1").fail(RuntimeError("temporary outage"), retry=False)
    queue.push_many([Task("queueapp.demo.noop", user=u, priority=p) for u in ("acme", "globex") for p in (3, 6)])
    operator.goto(f"{site}/tasks/")
    expect(operator.locator("#tasks")).to_contain_text("dead-1")
    shots(operator, "tasks")
    operator.select_option("select[name=state]", "dead")
    operator.click("button:text('Filter')")
    expect(operator.locator("#tasks tbody tr")).to_have_count(1)
    operator.click("#tasks button:text('Retry')")
    expect(operator.locator(".messages")).to_contain_text("Task dead-1 queued again")
    assert queue.get_task("dead-1").state == State.QUEUED
