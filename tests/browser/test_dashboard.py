"""The dashboard in a real browser: sign-in rules, CSRF, creating a tenant, a
worker configuration and a schedule (after a rejected cron), a live counter,
requeueing dead letters and watching them run; screenshots of every page."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from queueapp.engine import State, Task
from queueapp.engine.settings import WorkerReport
from queueapp.models import Schedule, Tenant, WorkerConfig
from tests.browser.conftest import PASSWORD, sign_in
from tests.processes import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_anonymous_users_go_to_login_and_non_staff_get_403(page, site):
    page.goto(f"{site}/users/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/users/"))
    User.objects.create_user("visitor", password=PASSWORD)
    sign_in(page, site, "visitor")
    response = page.goto(f"{site}/")
    assert response.status == 403
    expect(page.locator("body")).to_contain_text("permission")


def test_a_post_without_csrf_token_is_refused(operator, site):
    response = operator.request.post(f"{site}/users/new/", form={"key": "sneaky", "weight": "1"})
    assert response.status == 403
    assert not Tenant.objects.filter(key="sneaky").exists()


def test_create_a_tenant_and_a_worker_configuration(operator, site, shots):
    operator.goto(f"{site}/users/")
    expect(operator.locator("main")).to_contain_text("No tenant yet")
    shots(operator, "users-empty")
    operator.click("text=Add a tenant")
    operator.fill("input[name=key]", "acme")
    operator.fill("input[name=name]", "Acme Corp")
    operator.fill("input[name=weight]", "0")
    operator.click("button:text('Save')")
    expect(operator.locator(".errorlist")).to_contain_text("greater than or equal to 1")
    operator.fill("input[name=weight]", "3")
    operator.click("button:text('Save')")
    expect(operator.locator(".messages")).to_contain_text("Tenant acme saved")
    assert Tenant.objects.get(key="acme").weight == 3
    operator.click("nav >> text=Workers")
    operator.click("text=Add a worker configuration")
    operator.fill("input[name=worker_id]", "worker-001")
    operator.select_option("select[name=assigned_users]", label="Acme Corp (acme)")
    operator.fill("input[name=concurrency]", "4")
    operator.click("button:text('Save')")
    expect(operator.locator(".messages")).to_contain_text("worker-001 saved")
    config = WorkerConfig.objects.get(worker_id="worker-001")
    assert [t.key for t in config.assigned_users.all()] == ["acme"] and config.concurrency == 4


def test_create_a_schedule_after_a_rejected_cron(operator, site, queue, shots):
    operator.goto(f"{site}/schedules/new/")
    operator.fill("input[name=name]", "nightly")
    operator.fill("input[name=cron]", "61 * * * *")
    expect(operator.locator("#cron-preview")).to_contain_text("not a valid cron expression")  # as you type
    operator.fill("input[name=task]", "queueapp.demo.noop")
    operator.click("button:text('Save')")
    expect(operator.locator(".errorlist")).to_contain_text("not a valid cron expression")
    assert not Schedule.objects.exists()
    operator.fill("input[name=cron]", "30 2 * * *")
    operator.fill("input[name=timezone]", "Europe/Berlin")
    expect(operator.locator("#cron-preview li")).to_have_count(5)
    expect(operator.locator("#cron-preview")).to_contain_text("02:30:00")
    shots(operator, "schedule-form")
    operator.click("button:text('Save')")
    expect(operator.locator(".messages")).to_contain_text("Schedule nightly saved")
    expect(operator.locator("table")).to_contain_text("30 2 * * *")
    assert "nightly" in queue.config_snapshot().schedules


def test_a_live_counter_changes_when_tasks_are_enqueued(operator, site, queue):
    operator.goto(f"{site}/")
    queued = operator.locator("[data-total=queued]")
    expect(queued).to_have_text("0")
    queue.push_many([Task("queueapp.demo.noop", user="acme") for _ in range(7)])
    expect(queued).to_have_text("7", timeout=8_000)  # htmx polling, no reload


def dead_letters(queue, n, user):
    ids = [t.id for t in queue.push_many([Task("queueapp.demo.echo", args=[i], user=user) for i in range(n)])]
    for _ in ids:
        queue.pop("setup").fail(RuntimeError("temporary outage"), retry=False)
    return ids


def test_requeue_one_dead_letter_then_all_matching_and_see_them_run(operator, site, queue, env, workers, shots):
    acme = dead_letters(queue, 3, "acme")
    globex = dead_letters(queue, 2, "globex")
    operator.goto(f"{site}/dead-letters/")
    shots(operator, "dead-letters")
    operator.locator("details").first.click()
    expect(operator.locator("details pre").first).to_contain_text("RuntimeError: temporary outage")
    operator.check(f"input[name=ids][value='{globex[0]}']")
    operator.click("button:text('Requeue selected')")
    expect(operator.locator(".messages")).to_contain_text("1 dead letter(s) requeued")
    operator.fill("input[name=user]", "acme")
    operator.click("button:text('Filter')")
    operator.click("button:text('Requeue all 3 matching')")
    expect(operator.locator("h1")).to_contain_text("Requeue 3 dead letters?")
    operator.click("button:text('Yes, requeue 3')")
    expect(operator.locator(".messages")).to_contain_text("3 dead letter(s) requeued")
    workers(env, "--worker-id", "w1", "--burst").wait(30)
    tasks = [queue.get_task(i) for i in acme + globex[:1]]
    assert all(t.state == State.SUCCEEDED for t in tasks)
    assert [h["state"] for h in tasks[0].history][:3] == ["queued", "running", "dead"]  # history kept
    assert queue.get_task(globex[1]).state == State.DEAD
    operator.goto(f"{site}/tasks/{acme[0]}/")
    expect(operator.locator("main")).to_contain_text("succeeded")
    shots(operator, "task-detail")


def test_screenshots_of_every_page(operator, site, queue, shots, browser):
    acme = Tenant.objects.create(key="acme", name="Acme Corp", weight=3)
    globex = Tenant.objects.create(key="globex", name="Globex")
    config = WorkerConfig.objects.create(worker_id="worker-001", concurrency=4)
    config.assigned_users.set([acme])
    config.steal_targets.set([globex])
    Schedule.objects.create(
        name="nightly-report",
        cron="30 2 * * *",
        timezone="Europe/Berlin",
        task="queueapp.demo.echo",
        args=["report"],
        user="acme",
    )
    queue.push_many(
        [
            Task("queueapp.demo.noop", user=u, priority=p)
            for u in ("acme", "globex", "initech")
            for p in (3, 4, 6)
            for _ in range(5)
        ]
    )
    for _ in range(12):
        queue.pop("worker-001").ack({"ok": True})
    dead_letters(queue, 2, "initech")
    queue.heartbeat(
        "worker-001",
        [],
        WorkerReport("worker-001", 0, 0, host="app-1", pid=4242, concurrency=4, processed=12, failed=2, ttl_seconds=60),
    )
    wait_for(lambda: queue.stats()["queued"] > 0, what="setup")
    for name, path in (
        ("overview", "/"),
        ("users", "/users/"),
        ("user-detail", "/users/acme/"),
        ("workers", "/workers/"),
        ("schedules", "/schedules/"),
        ("dead-letters", "/dead-letters/"),
        ("worker-form", "/workers/worker-001/edit/"),
        ("audit", "/audit/"),
    ):
        response = operator.goto(f"{site}{path}")
        assert response.status == 200, path
        operator.wait_for_load_state("networkidle")
        shots(operator, name)
    phone = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=operator.context.storage_state())
    mobile = phone.new_page()
    for name, path in (("overview-phone", "/"), ("users-phone", "/users/")):
        assert mobile.goto(f"{site}{path}").status == 200
        width = mobile.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, f"{path} scrolls sideways on a phone ({width}px)"
        shots(mobile, name)
    phone.close()


def test_an_action_without_permission_shows_why(page, site):
    """Boosted forms swap error pages in too: a refused action is never a silent click."""
    Tenant.objects.create(key="acme")
    User.objects.create_user("viewer", password=PASSWORD, is_staff=True)
    sign_in(page, site, "viewer")
    page.goto(f"{site}/users/acme/")
    page.click("button:text('Pause')")
    expect(page.locator("body")).to_contain_text("permission")
    assert not Tenant.objects.get(key="acme").paused
