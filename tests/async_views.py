"""A Django project's async view that enqueues, as users write them (the
URLconf of tests/workers/test_async_view.py)."""

from __future__ import annotations

import json

from django.http import JsonResponse
from django.urls import path

from tests.fixture_tasks import record


async def enqueue_webhook(request):
    body = json.loads(request.body or b"{}")
    result = await record.using(user=body.get("tenant", "acme")).aenqueue(body["tag"])
    return JsonResponse({"id": result.id, "status": result.status}, status=202)


urlpatterns = [path("hooks/", enqueue_webhook)]
