"""Pipelines: runs newest first (tenant, state counts, started, finished), and a
run's steps in topological order with their live states and its XCom values;
cancel what has not started."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from .. import browse, conf
from ..engine.errors import FairQueueError
from ..engine.task import InvalidTask
from ..engine.workflows import check_run_id
from .base import PAGE_SIZE, audit, done, need, offset_of, page, staff_required


def _valid(run_id: str) -> str:
    try:
        return check_run_id(run_id)
    except InvalidTask:
        raise Http404("no such pipeline run") from None


@require_GET
@staff_required
def pipeline_list(request):
    user = request.GET.get("user", "").strip()
    offset = offset_of(request)
    runs, total = browse.pipeline_page(user, offset, PAGE_SIZE)
    pager = {"items": runs, "total": total, "offset": offset, "limit": PAGE_SIZE,
             "has_next": offset + PAGE_SIZE < total}  # fmt: skip
    return page(
        request,
        "queueapp/pipelines.html",
        {"runs": runs, "page": pager, "tenant": user, "query": urlencode({"user": user} if user else {})},
        partial="table",
    )


@require_GET
@staff_required
def pipeline_detail(request, run_id):
    detail = browse.run_detail(_valid(run_id))
    if detail is None:
        raise Http404("No pipeline run with this id: it never existed, or it finished and expired.")
    return page(request, "queueapp/pipeline_detail.html", {"d": detail, "run": detail.run}, partial="steps")


@require_POST
@staff_required
def pipeline_cancel(request, run_id):
    need(request, "queueapp.cancel_task")
    run_id = _valid(run_id)
    to = reverse("queueapp:pipeline", args=[run_id])
    try:
        n = conf.get_queue().cancel_pipeline(run_id)
    except FairQueueError as exc:
        return done(request, f"Pipeline run {run_id} was not cancelled: {exc}", to, messages.ERROR)
    audit(request, "pipeline.cancel", run_id, cancelled=n)
    return done(request, f"{n} task(s) of pipeline run {run_id} cancelled.", to)
