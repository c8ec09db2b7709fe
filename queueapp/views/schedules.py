"""Schedules: list with next fire times, create/edit with the cron expression
checked as you type (next five fires in the schedule's time zone),
enable/disable, run now, delete."""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import schedule_rules, scheduling
from ..engine import cron
from ..forms import ScheduleForm
from ..models import Schedule
from .base import audit, commit, done, need, page, staff_required


@require_GET
@staff_required
def schedule_list(request):
    rows = list(Schedule.objects.all())
    for row in rows:  # a row saved past validation (the ORM, raw SQL) is marked, never hidden
        row.problems = "; ".join(f"{field}: {why}" for field, why in schedule_rules.field_errors(row).items())
    return page(request, "queueapp/schedules.html", {"schedules": rows}, partial="table")


@require_GET
@staff_required
def cron_preview(request):
    """The partial under the cron field: next five fire times, or what is wrong."""
    expr, tz = request.GET.get("cron", ""), request.GET.get("timezone", "UTC") or "UTC"
    try:
        fires, error = scheduling.preview(expr, tz), None
    except cron.CronError as exc:
        fires, error = [], str(exc)
    return render(request, "queueapp/schedule_form.html#preview", {"fires": fires, "error": error, "tz": tz})


@require_http_methods(["GET", "POST"])
@staff_required
def schedule_form(request, name=None):
    schedule = get_object_or_404(Schedule, name=name) if name else None
    if request.method == "POST":
        need(request, "queueapp.change_schedule" if schedule else "queueapp.add_schedule")
        form = ScheduleForm(request.POST, instance=schedule)
        if form.is_valid():
            with transaction.atomic():
                saved = form.save()
                audit(
                    request,
                    "schedule.update" if schedule else "schedule.create",
                    saved.name,
                    cron=saved.cron,
                    timezone=saved.timezone,
                    task=saved.task,
                    user=saved.user,
                )
            return done(request, f"Schedule {saved.name} saved.", reverse("queueapp:schedules"))
    else:
        form = ScheduleForm(instance=schedule)
    fires, error = [], None
    expr = form["cron"].value() or ""
    if expr:
        try:
            fires = scheduling.preview(expr, form["timezone"].value() or "UTC")
        except cron.CronError as exc:
            error = str(exc)
    return render(
        request,
        "queueapp/schedule_form.html",
        {"form": form, "schedule": schedule, "fires": fires, "error": error, "tz": form["timezone"].value()},
    )


@require_POST
@staff_required
def schedule_toggle(request, name):
    need(request, "queueapp.change_schedule")
    schedule = get_object_or_404(Schedule, name=name)
    schedule.enabled = not schedule.enabled
    state = "enabled" if schedule.enabled else "disabled"
    return commit(
        request,
        schedule,
        "schedule.enable" if schedule.enabled else "schedule.disable",
        name,
        f"Schedule {name} {state}.",
        reverse("queueapp:schedules"),
    )


@require_POST
@staff_required
def schedule_run_now(request, name):
    need(request, "queueapp.change_schedule")
    schedule = get_object_or_404(Schedule, name=name)
    task_id = scheduling.run_now(schedule)
    audit(request, "schedule.run_now", name, task_id=task_id)
    return done(request, f"Schedule {name} ran now: task {task_id} enqueued.", reverse("queueapp:schedules"))


@require_POST
@staff_required
def schedule_delete(request, name):
    need(request, "queueapp.delete_schedule")
    schedule = get_object_or_404(Schedule, name=name)
    return commit(
        request,
        schedule,
        "schedule.delete",
        name,
        f"Schedule {name} deleted.",
        reverse("queueapp:schedules"),
        delete=True,
    )
