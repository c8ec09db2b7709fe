"""Workers: configurations (create/edit/disable/delete), live heartbeats,
and the drift between the database and Redis with a "sync now" button."""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import dashboard, sync
from ..forms import WorkerConfigForm
from ..models import WorkerConfig
from .base import audit, commit, done, need, page, staff_required, wants_partial


@require_GET
@staff_required
def worker_list(request):
    rows = dashboard.workers()
    dashboard.configured_tenants(rows)
    context = {"workers": rows}
    if not wants_partial(request, "live"):  # the 5-second live partial does not show drift
        context["drift"] = dashboard.drift(refresh=True)
    return page(request, "queueapp/workers.html", context, partial="live")


def _summary(config: WorkerConfig) -> dict:
    return {
        "enabled": config.enabled,
        "concurrency": config.concurrency,
        "steal_all": config.steal_all,
        "assigned": sorted(t.key for t in config.assigned_users.all()),
        "steal": sorted(t.key for t in config.steal_targets.all()),
    }


@require_http_methods(["GET", "POST"])
@staff_required
def worker_form(request, worker_id=None):
    config = get_object_or_404(WorkerConfig, worker_id=worker_id) if worker_id else None
    if request.method == "POST":
        need(request, "queueapp.change_workerconfig" if config else "queueapp.add_workerconfig")
        form = WorkerConfigForm(request.POST, instance=config)
        if form.is_valid():
            with transaction.atomic():
                saved = form.save()
                audit(request, "worker.update" if config else "worker.create", saved.worker_id, **_summary(saved))
            return done(
                request,
                f"Worker configuration {saved.worker_id} saved; the worker follows within seconds.",
                reverse("queueapp:workers"),
            )
    else:
        form = WorkerConfigForm(instance=config, initial={"worker_id": request.GET.get("worker_id", "")})
    return render(request, "queueapp/worker_form.html", {"form": form, "config": config})


@require_POST
@staff_required
def worker_toggle(request, worker_id):
    need(request, "queueapp.change_workerconfig")
    config = get_object_or_404(WorkerConfig, worker_id=worker_id)
    config.enabled = not config.enabled
    state = "enabled" if config.enabled else "disabled: it takes no tasks until enabled"
    return commit(
        request,
        config,
        "worker.enable" if config.enabled else "worker.disable",
        worker_id,
        f"Worker {worker_id} {state}.",
        reverse("queueapp:workers"),
    )


@require_POST
@staff_required
def worker_delete(request, worker_id):
    need(request, "queueapp.delete_workerconfig")
    config = get_object_or_404(WorkerConfig, worker_id=worker_id)
    return commit(
        request,
        config,
        "worker.delete",
        worker_id,
        f"Worker configuration {worker_id} deleted: that worker now serves every tenant.",
        reverse("queueapp:workers"),
        delete=True,
    )


@require_POST
@staff_required
def sync_now(request):
    need(request, "queueapp.sync_queue")
    report = sync.full_sync()
    dashboard.drift(refresh=True)
    audit(
        request,
        "config.sync",
        "redis",
        tenants=report.tenants,
        workers=report.workers,
        schedules=report.schedules,
        removed=report.removed,
    )
    return done(
        request,
        f"Synced {report.tenants} tenant(s), {report.workers} worker configuration(s) and "
        f"{report.schedules} schedule(s) to Redis.",
        reverse("queueapp:workers"),
    )
