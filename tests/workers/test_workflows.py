"""Pipelines, dependencies and XCom through the Django API, run by real runworker
processes against real Redis (docs/workflows.md)."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.tasks.exceptions import InvalidTask

from queueapp.engine import State
from queueapp.workflows import CycleError, Pipeline
from tests import workflow_tasks as wt
from tests.processes import wait_for

pytestmark = pytest.mark.usefixtures("fq_settings")


def seen(raw, env, tag):
    text = raw.hget(f"{env['FQ_LEDGER']}:seen", tag)
    return json.loads(text) if text else None


def finished(queue, run_id):
    run = queue.pipeline(run_id)
    return run is not None and run.finished


def test_extract_transform_load_runs_in_order_and_passes_data_by_xcom(queue, env, raw, workers, prefix):
    run = (wt.extract.bind("s3") >> wt.transform.bind() >> wt.load.bind("db")).enqueue(user="acme", name="etl")
    workers(env, "--worker-id", "w1", "--concurrency", "4")
    wait_for(lambda: finished(queue, run.id), timeout=60, what="the pipeline finished")
    order = raw.lrange(f"{env['FQ_LEDGER']}:order", 0, -1)
    assert order == ["extract:s3", "transform", "load:db"]
    assert seen(raw, env, "load:db") == ["S3:0", "S3:1", "S3:2"]
    stored = queue.pipeline(run.id)
    assert stored.user == "acme" and stored.name == "etl"
    assert stored.total == stored.done == 3 and stored.counts["succeeded"] == 3
    assert set(stored.steps) == {"extract", "transform", "load"}
    assert queue.xcom_values("acme", run.id) == {"rows": ["s3:0", "s3:1", "s3:2"], "clean": ["S3:0", "S3:1", "S3:2"]}
    result = run["load"]
    result.refresh()
    assert result.return_value == ["S3:0", "S3:1", "S3:2"]
    assert sorted(raw.scan_iter(f"{prefix}:deps:*")) == []


def test_fan_in_runs_once_after_both_parts_and_reads_their_return_values(queue, env, raw, workers):
    run = ((wt.part.bind("left") | wt.part.bind("right")) >> wt.merge.bind()).enqueue(user="acme")
    workers(env, "--worker-id", "w1", "--concurrency", "4")
    workers(env, "--worker-id", "w2", "--concurrency", "4")
    wait_for(lambda: finished(queue, run.id), timeout=60, what="the pipeline finished")
    order = raw.lrange(f"{env['FQ_LEDGER']}:order", 0, -1)
    assert order.count("merge") == 1 and order[-1] == "merge"
    assert seen(raw, env, "merge") == [{"part": "left"}, {"part": "right"}]


def test_two_runs_of_one_pipeline_keep_their_xcom_apart(queue, env, raw, workers):
    def etl(source):
        return wt.extract.bind(source) >> wt.transform.bind() >> wt.load.bind(source)

    runs = [etl("alpha").enqueue(user="acme"), etl("beta").enqueue(user="acme")]
    workers(env, "--worker-id", "w1", "--concurrency", "4")
    wait_for(lambda: all(finished(queue, r.id) for r in runs), timeout=60, what="both runs finished")
    assert seen(raw, env, "load:alpha") == ["ALPHA:0", "ALPHA:1", "ALPHA:2"]
    assert seen(raw, env, "load:beta") == ["BETA:0", "BETA:1", "BETA:2"]


def test_a_failing_dependency_cancels_its_dependents(queue, env, workers):
    run = (wt.fails_unless_marked.bind("x") >> wt.load.bind("never")).enqueue(user="acme")
    workers(env, "--worker-id", "w1")
    wait_for(lambda: finished(queue, run.id), timeout=60, what="the pipeline ended")
    load = queue.get_task(run["load"].id)
    assert load.state == State.CANCELLED and load.dead_reason == "dependency_failed"
    assert queue.pipeline(run.id).counts == {"succeeded": 0, "dead": 1, "failed": 0, "cancelled": 1, "deleted": 0}


def test_a_blocking_dependent_is_rearmed_by_the_requeue_and_the_pipeline_completes(queue, env, raw, workers):
    first = wt.fails_unless_marked.bind("y")
    then = wt.part.bind("after").using(on_dependency_failure="block")
    run = (first >> then).enqueue(user="acme")
    workers(env, "--worker-id", "w1")
    failing = run["fails_unless_marked"].id
    wait_for(lambda: queue.get_task(failing).state == State.DEAD, timeout=60, what="the dependency dead")
    assert queue.get_task(run["part"].id).state == State.DEFERRED
    assert not queue.pipeline(run.id).finished
    raw.sadd(f"{env['FQ_LEDGER']}:ok", "y")
    assert queue.dlq_requeue([failing]) == (1, [])
    wait_for(lambda: finished(queue, run.id), timeout=60, what="the pipeline completed")
    assert queue.get_task(run["part"].id).state == State.SUCCEEDED
    assert queue.pipeline(run.id).counts["succeeded"] == 2


def test_a_cycle_is_rejected_before_anything_is_pushed(queue):
    a, b, c = wt.part.bind("a"), wt.part.bind("b").named("b"), wt.part.bind("c").named("c")
    with pytest.raises(CycleError, match="cycle through") as caught:
        (a >> b >> c >> a).enqueue(user="acme")
    assert "b" in str(caught.value) and "c" in str(caught.value)
    assert queue.stats()["enqueued"] == 0 and queue.pipelines()[1] == 0


def test_a_dependency_on_a_missing_id_is_rejected(queue):
    with pytest.raises(InvalidTask, match="no task"):
        wt.part.using(user="acme", depends_on=["0000missing"]).enqueue("x")
    with pytest.raises(InvalidTask, match="depends_on takes"):
        wt.part.using(depends_on=[42])
    assert queue.stats()["enqueued"] == 0


def test_depends_on_takes_task_results(queue, env, raw, workers):
    first = wt.part.using(user="acme").enqueue("one")
    second = wt.part.using(user="acme", depends_on=[first]).enqueue("two")
    assert queue.get_task(second.id).state == State.DEFERRED
    workers(env, "--worker-id", "w1")
    wait_for(lambda: queue.get_task(second.id).state == State.SUCCEEDED, timeout=60, what="the dependent ran")
    assert raw.lrange(f"{env['FQ_LEDGER']}:order", 0, -1) == ["part:one", "part:two"]


def test_a_pipeline_belongs_to_one_tenant(queue):
    mixed = wt.part.using(user="a").bind("1") >> wt.part.using(user="b").bind("2")
    with pytest.raises(InvalidTask, match="one tenant"):
        mixed.enqueue()
    run = mixed.enqueue(user="c")
    assert {queue.get_task(r.id).user for r in run.results.values()} == {"c"}


def test_cancel_a_pipeline_cancels_what_has_not_started(queue, prefix, raw):
    run = Pipeline.of([wt.part.bind(str(i)) for i in range(5)]).__rshift__(wt.merge.bind()).enqueue(user="acme")
    assert run.cancel() == 6
    assert queue.pipeline(run.id).finished and queue.pipeline(run.id).counts["cancelled"] == 6
    assert queue.stats()["queued"] == 0 and queue.stats()["waiting"] == 0
    assert sorted(raw.scan_iter(f"{prefix}:deps:*")) == []


def test_a_pipeline_enqueued_from_async_code(queue):
    run = asyncio.run((wt.part.bind("a") >> wt.part.bind("b")).aenqueue(user="acme"))
    stored = queue.pipeline(run.id)
    assert stored.total == 2 and queue.get_task(run["part-2"].id).depends_on == (run["part"].id,)


@pytest.mark.django_db(transaction=True)
def test_deleting_a_tenant_with_its_tasks_leaves_no_dependency_or_xcom_key(queue, raw, prefix):
    from queueapp import tenants
    from queueapp.models import Tenant

    tenant = Tenant.objects.create(key="gone", name="Gone")
    run = (wt.part.bind("a") >> wt.part.bind("b")).enqueue(user="gone")
    queue.xcom_push("gone", run.id, "k", [1])
    queue.xcom_push("gone", "-", "own", {"x": 1})
    tenants.delete_tenant(tenant, queued=tenants.DEAD_LETTER)
    assert queue.get_task(run["part"].id).state == State.DEAD
    assert queue.get_task(run["part-2"].id).state == State.CANCELLED  # its dependency was dead-lettered
    left = [k for k in raw.scan_iter(f"{prefix}:*") if ":deps:" in k or ":xcom:" in k]
    assert left == [] and queue.stats()["waiting"] == 0
