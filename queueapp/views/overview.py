"""Overview: totals by lane, throughput chart, workers alive, alerts, fairness."""

from __future__ import annotations

from django.views.decorators.http import require_GET

from .. import conf, dashboard
from ..models import AuditEvent
from .base import offset_of, page, staff_required


@require_GET
@staff_required
def overview(request):
    workers = dashboard.workers()
    served, fairness = dashboard.fairness()
    series = conf.get_queue().throughput(60)  # read once: the chart and the DLQ-growth alert
    context = {
        "totals": dashboard.totals(),
        "workers": workers,
        "alive": sum(w.alive for w in workers),
        "alerts": dashboard.alerts(workers, series),
        "served": served,
        "fairness": fairness,
        "minutes": dashboard.FAIRNESS_MINUTES,
    }
    if not (request.htmx and request.GET.get("partial") == "live"):  # the polled partial has no chart
        context["chart"] = dashboard.chart(series)
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
