"""Health and metrics endpoints: liveness and readiness (no login), Prometheus text
(a bearer token, a staff login or FAIRQUEUE["METRICS_PUBLIC"])."""

from __future__ import annotations

import hmac

from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from .. import conf
from ..engine.errors import QueueUnavailable
from ..metrics import metrics_public, metrics_token, render


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


def _refused(message: str, error: str | None = None) -> HttpResponse:
    """401 with a Bearer challenge (RFC 6750) and a one-line text body."""
    response = HttpResponse(message + "\n", content_type="text/plain; charset=utf-8", status=401)
    challenge = 'Bearer realm="fairqueue"'
    response.headers["WWW-Authenticate"] = challenge + (f', error="{error}"' if error else "")
    return response


def metrics_refusal(request) -> HttpResponse | None:
    """None when the scrape may go on: METRICS_PUBLIC, the METRICS_TOKEN as a Bearer token,
    or a signed-in active staff user; else the 401 to send."""
    if metrics_public():
        return None
    token = metrics_token()
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    bearer = scheme.lower() == "bearer"
    if token and bearer and hmac.compare_digest(given.strip().encode(), token.encode()):
        return None
    user = request.user
    if user.is_authenticated and user.is_active and user.is_staff:
        return None
    if bearer and token:
        return _refused("invalid bearer token for /metrics", "invalid_token")
    if bearer:
        return _refused("no metrics token is configured (FAIRQUEUE_METRICS_TOKEN): sign in as staff", "invalid_token")
    return _refused("/metrics needs Authorization: Bearer <FAIRQUEUE_METRICS_TOKEN> or a staff login")


@require_GET
def metrics(request):
    """Prometheus text (queueapp/metrics.py), read from Redis at scrape time; fairqueue_up 0
    when Redis does not answer, still with status 200: Prometheus drops the body of any other
    status, so a 503 would hide the very series that says Redis is down. Token, staff or
    METRICS_PUBLIC required."""
    refusal = metrics_refusal(request)
    if refusal is not None:
        return refusal
    body, _up = render()
    return HttpResponse(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)
