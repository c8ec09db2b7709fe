"""The Tasks and Pipelines pages and the workflow parts of task detail, through
Django's test client against real Redis."""

from __future__ import annotations

import pytest

from queueapp.engine import State, Task

pytestmark = pytest.mark.django_db(transaction=True)


def etl(queue, run="run1", user="acme"):
    tasks = [
        Task("queueapp.demo.echo", id=f"{run}-e", user=user, step="extract"),
        Task("queueapp.demo.echo", id=f"{run}-t", user=user, step="transform", depends_on=(f"{run}-e",)),
        Task("queueapp.demo.echo", id=f"{run}-l", user=user, step="load", depends_on=(f"{run}-t",)),
    ]
    queue.push_pipeline(run, user, "nightly <etl>", tasks)
    return [t.id for t in tasks]


def test_pipelines_page_lists_runs_and_filters_by_tenant(staff, queue):
    etl(queue, "run1", "acme")
    etl(queue, "run2", "globex")
    body = staff.get("/pipelines/").content.decode()
    assert "run1" in body and "run2" in body and "nightly &lt;etl&gt;" in body
    body = staff.get("/pipelines/?user=globex").content.decode()
    assert ">run2</a>" in body and ">run1</a>" not in body


def test_run_page_shows_steps_in_order_with_states_and_xcom(staff, queue):
    e, t, _ = etl(queue)
    queue.xcom_push("acme", "run1", "rows", ["<b>1</b>"])
    lease = queue.pop("w1")
    assert lease.id == e
    lease.ack()
    body = staff.get("/pipelines/run1/").content.decode()
    assert body.index('data-step="extract"') < body.index('data-step="transform"') < body.index('data-step="load"')
    assert "after extract" in body and "after transform" in body
    assert "&lt;b&gt;1&lt;/b&gt;" in body and "<b>1</b>" not in body
    partial = staff.get("/pipelines/run1/?partial=steps", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial and 'data-step="load"' in partial
    assert staff.get("/pipelines/nope/").status_code == 404
    assert staff.get("/pipelines/bad%20id/").status_code == 404


def test_task_detail_shows_what_it_waits_on_and_blocks_and_its_xcom(staff, queue):
    e, t, load = etl(queue)
    queue.xcom_push("acme", "run1", "rows", [1, 2])
    body = staff.get(f"/tasks/{t}/").content.decode()
    assert 'id="dependencies"' in body and e in body and load in body
    assert "1 not succeeded yet" in body and "run1" in body and "transform" in body
    assert "rows" in body and "[1, 2]" in body


def test_tasks_page_filters_by_tenant_state_priority_and_path(staff, queue):
    queue.push(Task("queueapp.demo.echo", id="task-a1", user="acme", priority=5))
    queue.push(Task("queueapp.demo.noop", id="task-g1", user="globex"))
    queue.push(Task("queueapp.demo.noop", id="task-g2", user="globex", max_retries=0))
    queue.pop("w1")  # task-a1 (priority 5) runs

    def listed(query: str) -> set[str]:  # the ids linked in the table (not a token that happens to match)
        body = staff.get(f"/tasks/{query}").content.decode()
        return {i for i in ("task-a1", "task-g1", "task-g2") if f">{i}</a>" in body}

    assert listed("") == {"task-a1", "task-g1", "task-g2"}
    assert listed("?state=running") == {"task-a1"}
    assert listed("?user=globex") == {"task-g1", "task-g2"}
    assert listed("?priority=5") == {"task-a1"}
    assert listed("?func=demo.echo") == {"task-a1"}
    assert listed("?state=bogus&priority=9") == {"task-a1", "task-g1", "task-g2"}  # ignored, not an error


def test_retry_from_the_tasks_page_requeues_a_dead_task(admin, queue):
    queue.push(Task("queueapp.demo.fail", id="d1", user="acme", max_retries=0))
    queue.pop("w1").fail(ValueError("x"), retry=False)
    assert queue.get_task("d1").state == State.DEAD
    assert "Retry" in admin.get("/tasks/?state=dead").content.decode()
    response = admin.post("/tasks/d1/retry/", {"next": "/tasks/?state=dead"})
    assert response.status_code == 302 and response["Location"] == "/tasks/?state=dead"
    assert queue.get_task("d1").state == State.QUEUED
    response = admin.post("/tasks/d1/retry/", {"next": "https://evil.example/"})
    assert response["Location"] == "/tasks/d1/"  # not retryable now, and no open redirect


def test_retry_of_a_failed_task_created_without_the_dlq(admin, queue):
    queue.push(Task("queueapp.demo.fail", id="f1", user="acme", max_retries=0, dead_letter=False))
    queue.pop("w1").fail(ValueError("x"), retry=False)
    assert queue.get_task("f1").state == State.FAILED
    admin.post("/tasks/f1/retry/")
    assert queue.get_task("f1").state == State.QUEUED
    assert queue.redis.ttl(queue.config.keys.task("f1")) == -1  # no longer expiring like a result


def test_cancel_a_pipeline_from_its_page(admin, staff, queue):
    etl(queue)
    assert staff.post("/pipelines/run1/cancel/").status_code == 403  # no cancel permission
    response = admin.post("/pipelines/run1/cancel/")
    assert response.status_code == 302
    assert queue.pipeline("run1").counts["cancelled"] == 3
    assert "3 task(s)" in admin.get("/pipelines/run1/").content.decode()


def test_waiting_tasks_are_counted_on_the_overview_and_the_tenant_pages(staff, queue):
    etl(queue)  # one queued, two waiting
    overview = staff.get("/").content.decode()
    assert "waiting on dependencies" in overview
    detail = staff.get("/users/acme/").content.decode()
    assert "waiting on dependencies" in detail and "state=deferred" in detail
    users = staff.get("/users/").content.decode()
    assert 'title="0 delayed, 2 waiting on dependencies">2<' in users
