"""Tasks across tenants (filter by tenant, state, priority, task path; paged; retry
from there for failed and dead tasks) and task detail: arguments, tenant, priority,
state history, attempts, errors, result, what it waits on and blocks, its XCom."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from .. import browse, conf
from ..engine.task import InvalidTask, check_name
from .base import PAGE_SIZE, audit, done, need, offset_of, page, staff_required

RETRYABLE = ("failed", "dead")


def pretty(text: str | None) -> str:
    if text is None:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def _filter(data) -> browse.TaskFilter:
    return browse.TaskFilter(**{k: data.get(k, "").strip() for k in ("user", "state", "priority", "func")})


@require_GET
@staff_required
def task_list(request):
    f = _filter(request.GET)
    result = browse.task_page(f, offset_of(request), PAGE_SIZE)
    return page(
        request,
        "queueapp/tasks.html",
        {
            "page": result,
            "f": f,
            "states": browse.STATES,
            "priorities": range(6, 0, -1),
            "query": urlencode(f.query()),
            "examine_limit": browse.EXAMINE_LIMIT,
            "retryable": RETRYABLE,
        },
        partial="table",
    )


@require_POST
@staff_required
def task_retry(request, task_id):
    """A failed or dead task runs again (its record, history kept), as from the DLQ."""
    need(request, "queueapp.requeue_task")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("queueapp:task", args=[task_id])
    requeued, _skipped = conf.get_queue().dlq_requeue([task_id])
    if not requeued:
        return done(request, f"Task {task_id} was not retried: only failed or dead tasks can be.", back, messages.ERROR)
    audit(request, "task.retry", task_id)
    return done(request, f"Task {task_id} queued again.", back)


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
    links = browse.task_links(task) if not task.unreadable else None
    return page(
        request,
        "queueapp/task_detail.html",
        {
            "task": task,
            "arguments": arguments,
            "result": pretty(task.result),
            "links": links,
            "xcom": links.xcom if links else {},
            "retryable": task.state in RETRYABLE,
        },
    )
