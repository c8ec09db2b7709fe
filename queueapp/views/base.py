"""What every dashboard view shares: staff-only access, per-action permissions,
page-or-partial rendering, paging, the audit trail, friendly Redis errors."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import render

from ..engine.errors import QueueUnavailable
from ..models import AuditEvent

PAGE_SIZE = 50


def staff_required(view):
    """Anonymous users go to the login page; signed-in users who are not staff get 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (request.user.is_active and request.user.is_staff):
            raise PermissionDenied("The FairQueue dashboard is for staff users.")
        try:
            return view(request, *args, **kwargs)
        except QueueUnavailable as exc:
            return render(request, "queueapp/unavailable.html", {"error_kind": type(exc).__name__}, status=503)

    return wrapper


def need(request, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied(f"You need the permission {perm!r} for this.")


def wants_partial(request, partial: str) -> bool:
    """An htmx request for one partial of the page (a live refresh): skip what it does not show."""
    return bool(request.htmx) and request.GET.get("partial") == partial


def page(request, template: str, context: dict, partial: str | None = None, **kwargs):
    """The whole page, or one of its partials for htmx requests that target it."""
    if partial and wants_partial(request, partial):
        template = f"{template}#{partial}"
    return render(request, template, context, **kwargs)


def offset_of(request) -> int:
    try:
        return max(0, int(request.GET.get("offset", 0)))
    except ValueError:
        return 0


def audit(request, action: str, target: str = "", **detail) -> None:
    AuditEvent.objects.create(
        user=request.user, username=request.user.get_username(), action=action, target=str(target)[:255], detail=detail
    )


def commit(request, obj, action: str, target: str, message: str, to: str, *, delete: bool = False):
    """Save (or delete) `obj` and its audit event in one transaction, then redirect with a message."""
    with transaction.atomic():
        obj.delete() if delete else obj.save()
        audit(request, action, target)
    return done(request, message, to)


def done(request, message: str, to: str, level=messages.SUCCESS):
    messages.add_message(request, level, message)
    return HttpResponseRedirect(to)
