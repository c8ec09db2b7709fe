"""Overview: totals by lane, throughput chart, workers alive, alerts, fairness."""

from __future__ import annotations

from django.views.decorators.http import require_GET

from .. import dashboard
from ..models import AuditEvent
from .base import offset_of, page, staff_required, wants_partial


@require_GET
@staff_required
def overview(request):
    context = dashboard.overview(with_chart=not wants_partial(request, "live"))  # the polled partial has no chart
    return page(request, "queueapp/overview.html", context, partial="live")


@require_GET
@staff_required
def audit_log(request):
    offset = offset_of(request)
    events = list(AuditEvent.objects.all()[offset : offset + 100])
    return page(
        request,
        "queueapp/audit.html",
        {"events": events, "offset": offset, "next": offset + 100 if len(events) == 100 else None},
    )
