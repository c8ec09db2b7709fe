"""Task detail: arguments, tenant, priority, state history, attempts, errors, result."""

from __future__ import annotations

import json

from django.http import Http404
from django.views.decorators.http import require_GET

from .. import conf
from ..engine.task import InvalidTask, check_name
from .base import page, staff_required


def pretty(text: str | None) -> str:
    if text is None:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


@require_GET
@staff_required
def task_detail(request, task_id):
    try:
        check_name("task id", task_id)
    except InvalidTask:
        raise Http404("no such task") from None
    task = conf.get_queue().get_task(task_id)
    if task is None:
        raise Http404("No task with this id: it never existed, or it finished and its result expired.")
    arguments = json.dumps({"args": task.args, "kwargs": task.kwargs}, indent=2, ensure_ascii=False)
    return page(
        request, "queueapp/task_detail.html", {"task": task, "arguments": arguments, "result": pretty(task.result)}
    )
