"""The admin for tenants and worker configurations, as a superuser, against a real Redis and a real DB:
the delete page asks what to do with queued tasks, form rules are errors on the page (and ValidationError
on the ORM path), changes reach Redis."""

from __future__ import annotations

import time

import pytest
from django.core.exceptions import ValidationError

from queueapp import sync
from queueapp.engine import Task
from queueapp.engine.settings import TenantSettings
from queueapp.forms import TenantForm, WorkerConfigForm
from queueapp.models import Tenant, WorkerConfig

pytestmark = pytest.mark.django_db(transaction=True)  # on_commit pushes need real commits

WORKER = {
    "worker_id": "w1",
    "enabled": "on",
    "concurrency": "2",
    "poll_interval": "0.2",
    "lease_seconds": "",
    "notes": "",
}


def push(queue, user, n=1, delay_s=0):
    run_after = int(time.time() * 1000) + delay_s * 1000 if delay_s else None
    return [
        r.id for r in queue.push_many([Task("queueapp.demo.echo", user=user, run_after=run_after) for _ in range(n)])
    ]


@pytest.fixture
def acme(fq_settings):
    return Tenant.objects.create(key="acme", weight=2)


def delete_url(tenant):
    return f"/admin/queueapp/tenant/{tenant.pk}/delete/"


@pytest.mark.parametrize(
    ("queued", "deferred", "heading"),
    [
        (0, 0, None),
        (2, 0, "2 tasks of this tenant are still queued or deferred"),
        (0, 1, "1 task of this tenant is still queued or deferred"),
    ],
)
def test_delete_page_offers_the_choice_only_with_queued_tasks(admin_client, acme, queue, queued, deferred, heading):
    push(queue, "acme", queued)
    push(queue, "acme", deferred, delay_s=3600)
    push(queue, "other", 3)
    page = admin_client.get(delete_url(acme))
    assert page.status_code == 200
    html = page.content.decode()
    assert ('name="queued_tasks"' in html) is (heading is not None)
    assert heading is None or heading in html
    assert 'name="post" value="yes"' in html


@pytest.mark.parametrize(
    ("choice", "dead", "left"),
    [
        ("dead_letter", 3, 0),
        ("keep", 0, 3),
        (None, 0, 3),  # no choice posted (no tasks when the page was shown): keep
    ],
)
def test_delete_post(admin_client, acme, queue, choice, dead, left):
    Tenant.objects.create(key="other")
    mine = push(queue, "acme", 2) + push(queue, "acme", 1, delay_s=3600)
    other = push(queue, "other", 2)
    data = {"post": "yes"} | ({"queued_tasks": choice} if choice else {})
    response = admin_client.post(delete_url(acme), data)
    assert response.status_code == 302
    assert not Tenant.objects.filter(key="acme").exists()
    assert "acme" not in queue.config_snapshot().tenants
    assert queue.dead_letters(user="acme").total == dead
    assert all(t.dead_reason == "tenant_deleted" for t in queue.dead_letters(user="acme").items)
    stats = queue.tenant_stats("acme")
    assert stats["queued"] + stats["delayed"] == left
    assert {queue.get_task(i).state for i in mine} == ({"dead"} if dead else {"queued", "deferred"})
    assert queue.unregistered() == ([] if dead else [("acme", 2)])
    assert [queue.get_task(i).state for i in other] == ["queued", "queued"]


def test_delete_post_with_an_unknown_choice_is_not_a_server_error(admin_client, acme, queue):
    push(queue, "acme", 1)
    admin_client.raise_request_exception = False
    response = admin_client.post(delete_url(acme), {"post": "yes", "queued_tasks": "drop"})
    assert response.status_code in (200, 302)


def test_bulk_delete_action_keeps_tasks(admin_client, acme, queue):
    Tenant.objects.create(key="globex")
    push(queue, "acme", 2)
    pks = list(Tenant.objects.values_list("pk", flat=True))
    response = admin_client.post(
        "/admin/queueapp/tenant/", {"action": "delete_selected", "post": "yes", "_selected_action": pks}
    )
    assert response.status_code == 302 and Tenant.objects.count() == 0
    assert queue.config_snapshot().tenants == {}
    assert queue.unregistered() == [("acme", 2)] and queue.dead_letters().total == 0


def test_worker_config_add_with_an_overlap_is_a_page_error(admin_client, acme, queue):
    globex = Tenant.objects.create(key="globex")
    data = {**WORKER, "assigned_users": [acme.pk, globex.pk], "steal_targets": [acme.pk]}
    response = admin_client.post("/admin/queueapp/workerconfig/add/", data)
    assert response.status_code == 200
    assert "A tenant cannot be both assigned to this worker and one of its steal targets: acme." in (
        response.content.decode()
    )
    assert WorkerConfig.objects.count() == 0
    assert queue.config_snapshot().workers == {}


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"worker_id": "bad id"}, "Use 1-128 letters"),
        ({"concurrency": "0"}, "Ensure this value is greater than or equal to 1."),
        ({"concurrency": "257"}, "Ensure this value is less than or equal to 256."),
    ],
)
def test_worker_config_add_field_errors(admin_client, fq_settings, queue, data, error):
    response = admin_client.post("/admin/queueapp/workerconfig/add/", {**WORKER, **data})
    assert response.status_code == 200 and error in response.content.decode()
    assert WorkerConfig.objects.count() == 0 and queue.config_snapshot().workers == {}


def test_worker_config_add_and_change_reach_redis(admin_client, acme, queue):
    globex = Tenant.objects.create(key="globex")
    data = {**WORKER, "assigned_users": [acme.pk], "steal_targets": [globex.pk]}
    assert admin_client.post("/admin/queueapp/workerconfig/add/", data).status_code == 302
    config = WorkerConfig.objects.get(worker_id="w1")
    assert queue.config_snapshot() == sync.expected().snapshot()
    assert queue.config_snapshot().workers["w1"].steal == ("globex",)
    data = {**data, "steal_targets": [], "steal_all": "on", "enabled": ""}
    assert admin_client.post(f"/admin/queueapp/workerconfig/{config.pk}/change/", data).status_code == 302
    snap = queue.config_snapshot()
    assert (snap.workers["w1"].enabled, snap.workers["w1"].steal) == (False, ())
    assert snap == sync.expected().snapshot()


@pytest.mark.parametrize("to_assigned", [True, False])
def test_worker_config_change_moves_a_tenant_between_steal_and_assigned(admin_client, acme, queue, to_assigned):
    config = WorkerConfig.objects.create(worker_id="w1")
    (config.steal_targets if to_assigned else config.assigned_users).add(acme)
    moved = {"assigned_users": [acme.pk]} if to_assigned else {"steal_targets": [acme.pk]}
    response = admin_client.post(f"/admin/queueapp/workerconfig/{config.pk}/change/", {**WORKER, **moved})
    assert response.status_code == 302
    w1 = queue.config_snapshot().workers["w1"]
    assert (w1.assigned, w1.steal) == ((("acme",), ()) if to_assigned else ((), ("acme",)))
    assert queue.config_snapshot() == sync.expected().snapshot()


@pytest.mark.parametrize(
    ("weight", "error"),
    [
        ("0", "Ensure this value is greater than or equal to 1."),
        ("1001", "Ensure this value is less than or equal to 1000."),
    ],
)
def test_tenant_add_weight_out_of_range_is_a_field_error(admin_client, fq_settings, queue, weight, error):
    response = admin_client.post("/admin/queueapp/tenant/add/", {"key": "acme", "name": "", "weight": weight})
    assert response.status_code == 200
    html = response.content.decode()
    assert error in html and 'class="errorlist' in html
    assert Tenant.objects.count() == 0 and queue.config_snapshot().tenants == {}


def test_tenant_add_and_change_reach_redis(admin_client, fq_settings, queue):
    data = {"key": "acme", "name": "Acme", "weight": "4", "notes": ""}
    assert admin_client.post("/admin/queueapp/tenant/add/", data).status_code == 302
    assert queue.config_snapshot().tenants == {"acme": TenantSettings("acme", 4.0, False)}
    tenant = Tenant.objects.get(key="acme")
    response = admin_client.post(f"/admin/queueapp/tenant/{tenant.pk}/change/", {**data, "paused": "on"})
    assert response.status_code == 302
    assert queue.config_snapshot().tenants == {"acme": TenantSettings("acme", 4.0, True)}


# -- the forms behind the admin (and the dashboard): every rule is a form error -----------------------------
@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"key": "a b"}, "key"),
        ({"key": "*"}, "key"),
        ({"key": "k" * 129}, "key"),
        ({"weight": 0}, "weight"),
        ({"weight": 1001}, "weight"),
        ({"weight": ""}, "weight"),
    ],
)
def test_tenant_form_errors(fq_settings, data, field):
    form = TenantForm({"key": "acme", "weight": 1, **data})
    assert not form.is_valid() and field in form.errors
    assert TenantForm({"key": "k" * 128, "weight": 1000}).is_valid()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"worker_id": "bad id"}, "worker_id"),
        ({"worker_id": "*"}, "worker_id"),
        ({"worker_id": "w" * 129}, "worker_id"),
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 257}, "concurrency"),
        ({"poll_interval": 0}, "poll_interval"),
    ],
)
def test_worker_form_errors(fq_settings, data, field):
    form = WorkerConfigForm({**WORKER, **data})
    assert not form.is_valid() and field in form.errors
    assert WorkerConfigForm({**WORKER, "concurrency": 256}).is_valid()


def test_overlap_is_a_form_error_and_an_orm_validation_error(acme, queue):
    globex = Tenant.objects.create(key="globex")
    form = WorkerConfigForm({**WORKER, "assigned_users": [acme.pk, globex.pk], "steal_targets": [globex.pk]})
    assert not form.is_valid()
    assert form.non_field_errors() == [
        "A tenant cannot be both assigned to this worker and one of its steal targets: globex."
    ]
    config = WorkerConfig.objects.create(worker_id="w1")
    config.assigned_users.add(acme)
    with pytest.raises(ValidationError, match=r"steal targets: acme\."):
        config.steal_targets.add(acme, globex)
    config.steal_targets.add(globex)
    with pytest.raises(ValidationError, match=r"steal targets: globex\."):
        config.assigned_users.add(globex)
    assert (list(config.assigned_users.all()), list(config.steal_targets.all())) == ([acme], [globex])
    assert queue.config_snapshot() == sync.expected().snapshot()


@pytest.mark.parametrize("assigned_first", [True, False])
def test_reverse_add_cannot_create_an_overlap(acme, queue, assigned_first):
    config = WorkerConfig.objects.create(worker_id="w1")
    (config.assigned_users if assigned_first else config.steal_targets).add(acme)
    with pytest.raises(ValidationError, match=r"steal targets: acme\."):
        (acme.stealing_workers if assigned_first else acme.assigned_workers).add(config)
    assert acme.assigned_workers.count() + acme.stealing_workers.count() == 1
    assert queue.config_snapshot() == sync.expected().snapshot()
