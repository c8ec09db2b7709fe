"""Health and metrics endpoints (no login): liveness, readiness, Prometheus text."""

from __future__ import annotations

from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from .. import conf
from ..engine.errors import QueueUnavailable


@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request):
    checks = {}
    try:
        conf.get_queue().ping()
        checks["redis"] = "ok"
    except QueueUnavailable as exc:
        checks["redis"] = f"error: {exc.__class__.__name__}"
    try:
        connection.ensure_connection()
        checks["database"] = "ok"
    except Exception as exc:  # any DB driver error means not ready
        checks["database"] = f"error: {exc.__class__.__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if ok else "unavailable", **checks}, status=200 if ok else 503)


@require_GET
def metrics(request):
    """Prometheus text format: the engine's counters and gauges, global and per priority."""
    try:
        queue = conf.get_queue()
        stats, by_prio, workers = queue.stats(), queue.priority_stats(), queue.workers()
    except QueueUnavailable:
        return HttpResponse(
            "# redis unavailable\nfairqueue_up 0\n", content_type="text/plain; version=0.0.4", status=503
        )
    lines = ["# HELP fairqueue_up 1 when Redis answers", "# TYPE fairqueue_up gauge", "fairqueue_up 1"]
    gauges = ("queued", "delayed", "running", "dead")
    for name, value in sorted(stats.items()):
        kind = "gauge" if name in gauges else "counter"
        metric = f"fairqueue_tasks_{name}" + ("" if kind == "gauge" else "_total")
        lines += [f"# TYPE {metric} {kind}", f"{metric} {value}"]
        lines += [f'{metric}{{priority="{int(p)}"}} {by_prio[p].get(name, 0)}' for p in by_prio]
    lines += ["# TYPE fairqueue_workers gauge", f"fairqueue_workers {len(workers)}"]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")
