"""Dead letters: filter by tenant, task and error text; error and traceback on
expand; requeue or delete one, the selected, or all matching the filter (with
a count and a confirmation). A requeued task keeps its history."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from .. import dashboard
from .base import PAGE_SIZE, audit, done, need, offset_of, page, staff_required

ACTIONS = {"requeue": ("queueapp.requeue_task", "requeued"), "delete": ("queueapp.delete_task", "deleted")}


def _filters(data) -> dict[str, str]:
    return {k: data.get(k, "").strip() for k in ("user", "func", "text")}


def _back(filters: dict) -> str:
    query = urlencode({k: v for k, v in filters.items() if v})
    return reverse("queueapp:dead_letters") + (f"?{query}" if query else "")


@require_GET
@staff_required
def dead_letter_list(request):
    filters = _filters(request.GET)
    result = dashboard.dead_letter_page(**filters, offset=offset_of(request), limit=PAGE_SIZE)
    return page(
        request,
        "queueapp/dead_letters.html",
        {
            "page": result,
            "f": filters,
            "query": urlencode({k: v for k, v in filters.items() if v}),
            "scan_limit": dashboard.SCAN_LIMIT,
        },
        partial="table",
    )


@require_POST
@staff_required
def dead_letter_action(request, action):
    if action not in ACTIONS:
        raise Http404("unknown action")
    perm, verb = ACTIONS[action]
    need(request, perm)
    filters = _filters(request.POST)
    scope = request.POST.get("scope", "selected")
    if scope == "all":
        if request.POST.get("confirmed") != "yes":
            ids = dashboard.matching_dead_letter_ids(**filters)
            return render(
                request,
                "queueapp/dead_letters_confirm.html",
                {"action": action, "verb": verb, "count": len(ids), "f": filters},
            )
        done_count = dashboard.act_on_dead_letters(action, **filters)
    else:
        ids = request.POST.getlist("ids")
        if not ids:
            return done(request, "Select at least one dead letter.", _back(filters), messages.WARNING)
        done_count = dashboard.act_on_dead_letters(action, ids=ids, user=filters["user"])
    audit(request, f"dead_letters.{action}", scope, count=done_count, **filters)
    return done(request, f"{done_count} dead letter(s) {verb}.", _back(filters))
