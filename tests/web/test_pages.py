"""Every dashboard page through Django's test client: staff only, empty states,
pages with data, htmx partials, permissions, CSRF, escaping."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from queueapp import conf
from queueapp.engine import Task
from queueapp.engine.settings import WorkerReport
from queueapp.models import AuditEvent, Schedule, Tenant, WorkerConfig

pytestmark = pytest.mark.django_db(transaction=True)
PAGES = [
    "/",
    "/users/",
    "/workers/",
    "/schedules/",
    "/dead-letters/",
    "/audit/",
    "/tasks/",
    "/pipelines/",
    "/users/new/",
    "/workers/new/",
    "/schedules/new/",
]


@pytest.fixture
def staff(fq_settings):
    """The conftest's staff, with its user (these tests change its permissions)."""
    user = User.objects.create_user("op", password="pw", is_staff=True)
    client = Client()
    client.force_login(user)
    return client, user


def fill(queue):
    acme = Tenant.objects.create(key="acme", name="Acme", weight=2)
    config = WorkerConfig.objects.create(worker_id="w1")
    config.assigned_users.set([acme])
    Schedule.objects.create(name="nightly", cron="30 2 * * *", timezone="Europe/Berlin", task="queueapp.demo.noop")
    queue.push_many([Task("queueapp.demo.echo", args=["<script>alert(1)</script>"], user="acme") for _ in range(3)])
    queue.push(Task("queueapp.demo.fail", user="globex", max_retries=0))
    queue.pop("w1").ack({"html": "<b>x</b>"})
    dead = queue.pop("other")
    dead.fail(ValueError("<img src=x onerror=alert(1)>"), retry=False)
    queue.heartbeat("w1", [], WorkerReport("w1", 0, 0, host="h", pid=1, ttl_seconds=60))
    return dead.id


@pytest.mark.parametrize("url", PAGES)
def test_empty_pages_render_for_staff(staff, url):
    response = staff[0].get(url)
    assert response.status_code == 200
    html = response.content.decode()
    for label in ("Overview", "Users", "Workers", "Schedules", "Dead letters"):
        assert f">{label}</a>" in html


@pytest.mark.parametrize("url", PAGES + ["/users/acme/", "/tasks/x/"])
def test_anonymous_users_are_sent_to_login(fq_settings, client, url):
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith("/login/?next=")


def test_non_staff_users_get_403(fq_settings):
    client = Client()
    client.force_login(User.objects.create_user("plain", password="pw"))
    assert client.get("/").status_code == 403


def test_pages_with_data_escape_user_content(staff, queue):
    client, _ = staff
    dead_id = fill(queue)
    for url in PAGES + [
        "/users/acme/",
        "/users/globex/",
        f"/tasks/{dead_id}/",
        "/schedules/nightly/edit/",
        "/workers/w1/edit/",
        "/users/acme/edit/",
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert "<script>alert(1)</script>" not in html and "<img src=x" not in html, url
    assert "&lt;img src=x onerror=alert(1)&gt;" in client.get("/dead-letters/").content.decode()
    detail = client.get("/users/acme/").content.decode()
    assert "<b>x</b>" not in detail and "&lt;b&gt;x&lt;/b&gt;" in detail  # a task's result, escaped


def test_htmx_requests_get_partials(staff, queue):
    client, _ = staff
    fill(queue)
    partials = (
        ("/?partial=live", 'id="live"'),
        ("/users/?partial=table", 'id="tenants"'),
        ("/workers/?partial=live", 'id="workers-live"'),
        ("/schedules/?partial=table", 'id="schedules"'),
    )
    for url, marker in partials:
        html = client.get(url, HTTP_HX_REQUEST="true").content.decode()
        assert marker in html and "<html" not in html, url


def test_cron_preview_partial(staff):
    client, _ = staff
    ok = client.get("/schedules/preview/", {"cron": "30 2 * * *", "timezone": "Europe/Berlin"}).content.decode()
    assert ok.count("<li>") == 5 and "CE" in ok
    bad = client.get("/schedules/preview/", {"cron": "61 * * * *", "timezone": "UTC"}).content.decode()
    assert "not a valid cron expression" in bad


def test_post_without_csrf_is_refused(fq_settings):
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_superuser("boss", password="pw"))
    response = client.post("/users/new/", {"key": "acme", "weight": 1})
    assert response.status_code == 403
    assert not Tenant.objects.exists()


def test_staff_without_permission_cannot_change_anything(staff, queue):
    client, user = staff
    fill(queue)
    for url, data in (
        ("/users/new/", {"key": "x", "weight": 1}),
        ("/users/acme/pause/", {}),
        ("/dead-letters/requeue/", {"scope": "all", "confirmed": "yes"}),
        ("/workers/sync/", {}),
    ):
        assert client.post(url, data).status_code == 403, url
    assert not Tenant.objects.filter(key="x").exists() and not Tenant.objects.get(key="acme").paused
    user.user_permissions.add(Permission.objects.get(codename="add_tenant"))
    assert client.post("/users/new/", {"key": "x", "weight": 1}).status_code == 302
    assert AuditEvent.objects.filter(action="tenant.create", target="x", username="op").exists()


def test_actions_change_things_and_leave_an_audit_trail(admin, queue):
    dead_id = fill(queue)
    assert admin.post("/users/acme/pause/").status_code == 302
    assert Tenant.objects.get(key="acme").paused
    assert admin.post("/dead-letters/requeue/", {"ids": [dead_id]}).status_code == 302
    assert queue.get_task(dead_id).state == "queued"
    assert admin.post("/workers/w1/toggle/").status_code == 302 and not WorkerConfig.objects.get().enabled
    response = admin.post("/schedules/nightly/run/")
    assert response.status_code == 302
    assert Schedule.objects.get().last_task_id
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"tenant.pause", "dead_letters.requeue", "worker.disable", "schedule.run_now"} <= actions
    assert "tenant.pause" in admin.get("/audit/").content.decode()


def test_forms_show_errors_instead_of_failing(admin):
    response = admin.post(
        "/schedules/new/",
        {
            "name": "bad",
            "cron": "61 * * * *",
            "timezone": "Mars/Olympus",
            "task": "os.system",
            "args": "[]",
            "kwargs": "{}",
            "user": "acme",
            "priority": 3,
            "missed_fire_policy": "skip",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "not a valid cron expression" in html and "unknown time zone" in html and "not a registered task" in html
    assert not Schedule.objects.exists()
    response = admin.post("/users/new/", {"key": "a b", "weight": 0})
    assert response.status_code == 200 and "no spaces" in response.content.decode()


def test_redis_down_is_a_503_page_not_a_stack_trace(admin, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.FAIRQUEUE = {**settings.FAIRQUEUE, "REDIS": {"RETRIES": 0, "SOCKET_CONNECT_TIMEOUT": 0.5}}
    conf.get_queue.cache_clear()
    response = admin.get("/")
    assert response.status_code == 503 and "not answering" in response.content.decode()
    conf.get_queue.cache_clear()
