"""Users (tenants): the list, a tenant's page with its queue in serve order,
add/edit/pause/resume/delete, cancel a queued task, purge the queue."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import conf, dashboard, tenants
from ..engine import FairQueueError
from ..engine.task import InvalidTask, check_name
from ..forms import TenantForm
from ..models import Tenant
from .base import PAGE_SIZE, audit, commit, done, need, offset_of, page, staff_required


@require_GET
@staff_required
def user_list(request):
    query = request.GET.get("q", "").strip()
    sort = request.GET.get("sort", "key") if not query else "key"
    result, rows = dashboard.tenant_page(query, sort, offset_of(request), PAGE_SIZE)
    context = {
        "page": result,
        "rows": rows,
        "q": query,
        "sort": sort,
        "sorts": dashboard.SORTS,
        "shards": conf.shards(),
    }
    return page(request, "queueapp/users.html", context, partial="table")


def _valid_key(key: str) -> str:
    try:
        return check_name("tenant", key)
    except InvalidTask:
        raise Http404("no such tenant") from None


@require_GET
@staff_required
def user_detail(request, key):
    detail = dashboard.tenant_detail(_valid_key(key), offset_of(request))
    return page(request, "queueapp/user_detail.html", {"d": detail}, partial="live")


@require_http_methods(["GET", "POST"])
@staff_required
def user_form(request, key=None):
    tenant = get_object_or_404(Tenant, key=key) if key else None
    if request.method == "POST":
        need(request, "queueapp.change_tenant" if tenant else "queueapp.add_tenant")
        form = TenantForm(request.POST, instance=tenant)
        if form.is_valid():
            with transaction.atomic():
                saved = form.save()
                audit(request, "tenant.update" if tenant else "tenant.create", saved.key, **form.cleaned_data)
            return done(request, f"Tenant {saved.key} saved.", reverse("queueapp:user", args=[saved.key]))
    else:
        # ?key= prefills a new tenant (Register from an unregistered tenant's page); an edit keeps its key
        form = TenantForm(instance=tenant, initial=None if tenant else {"key": request.GET.get("key", "")})
    return render(request, "queueapp/user_form.html", {"form": form, "tenant": tenant})


@require_POST
@staff_required
def user_pause(request, key, paused: bool):
    need(request, "queueapp.change_tenant")
    tenant = get_object_or_404(Tenant, key=key)
    tenant.paused = paused
    return commit(
        request,
        tenant,
        "tenant.pause" if paused else "tenant.resume",
        key,
        f"Tenant {key} {'paused: its tasks wait' if paused else 'resumed'}.",
        reverse("queueapp:user", args=[key]),
    )


@require_http_methods(["GET", "POST"])
@staff_required
def user_delete(request, key):
    tenant = get_object_or_404(Tenant, key=key)
    queued = tenants.queued_count(key)
    if request.method == "POST":
        need(request, "queueapp.delete_tenant")
        choice = request.POST.get("queued_tasks", tenants.KEEP)
        if choice not in (tenants.KEEP, tenants.DEAD_LETTER):
            messages.error(request, "Choose what happens to the queued tasks.")
        else:
            tenants.delete_tenant(tenant, choice)
            audit(request, "tenant.delete", key, queued_tasks=choice, queued=queued)
            what = "moved to the dead-letter queue" if choice == tenants.DEAD_LETTER else "kept (unregistered)"
            return done(
                request, f"Tenant {key} deleted; its {queued} queued task(s) {what}.", reverse("queueapp:users")
            )
    return render(request, "queueapp/user_delete.html", {"tenant": tenant, "queued": queued})


@require_POST
@staff_required
def task_cancel(request, key, task_id):
    need(request, "queueapp.cancel_task")
    try:
        conf.get_queue().cancel(task_id)
    except FairQueueError as exc:
        return done(
            request, f"Task {task_id} was not cancelled: {exc}", reverse("queueapp:user", args=[key]), messages.ERROR
        )
    audit(request, "task.cancel", task_id, user=key)
    return done(request, f"Task {task_id} cancelled.", reverse("queueapp:user", args=[key]))


@require_http_methods(["GET", "POST"])
@staff_required
def user_purge(request, key):
    key = _valid_key(key)
    queued = tenants.queued_count(key)
    if request.method == "POST":
        need(request, "queueapp.cancel_task")
        moved = conf.get_queue().purge(key, reason="purged")
        audit(request, "tenant.purge", key, moved=moved)
        return done(
            request,
            f"Purged {moved} task(s) of {key} to the dead-letter queue (reason purged).",
            reverse("queueapp:user", args=[key]),
        )
    return render(request, "queueapp/user_purge.html", {"key": key, "queued": queued})
