"""Placeholder pages until the dashboard lands: a home page and a liveness probe."""

from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
def home(request):
    return render(request, "queueapp/home.html")


@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})
