"""Overview: totals by lane, throughput chart, workers alive, alerts, fairness."""

from __future__ import annotations

from django.views.decorators.http import require_GET

from .. import dashboard
from ..models import AuditEvent
from .base import offset_of, page, staff_required


@require_GET
@staff_required
def overview(request):
    workers = dashboard.workers()
    served, fairness = dashboard.fairness()
    context = {"totals": dashboard.totals(), "chart": dashboard.chart(), "workers": workers,
               "alive": sum(w.alive for w in workers), "alerts": dashboard.alerts(workers),
               "served": served, "fairness": fairness, "minutes": dashboard.FAIRNESS_MINUTES}
    return page(request, "queueapp/overview.html", context, partial="live")


@require_GET
@staff_required
def audit_log(request):
    offset = offset_of(request)
    events = list(AuditEvent.objects.all()[offset:offset + 100])
    return page(request, "queueapp/audit.html", {"events": events, "offset": offset,
                                                 "next": offset + 100 if len(events) == 100 else None})
