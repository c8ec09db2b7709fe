"""Seed-style task API, a thin layer over the django.tasks backend:

from queueapp import task, Priority

@task(priority=Priority.HIGH, max_retries=3)
def send_invoice(invoice_id): ...

send_invoice.using(user="acme").enqueue(42)
"""

from __future__ import annotations

from django.tasks import task as django_task
from django.tasks.exceptions import InvalidTask

from .engine.task import Priority
from .priorities import to_django


def task(
    function=None,
    *,
    priority: int = Priority.NORMAL,
    user: str = "default",
    max_retries: int | None = None,
    timeout: float | None = None,
    cost: float | None = None,
    queue_name: str = "default",
    backend: str = "default",
    takes_context: bool = False,
):
    """Declare a task; `priority` is a FairQueue level 1..6 (Priority), not Django's -100..100;
    `cost`: its expected worker time in ms, what time-fair mode charges (docs/fairness.md)."""
    if isinstance(priority, bool) or priority not in tuple(Priority):
        raise InvalidTask(
            f"priority must be a level 1..6 (Priority.VERY_LOW .. Priority.CRITICAL), got {priority!r}; "
            "Django's -100..100 priorities go to django.tasks.task or .using(priority=...)"
        )
    decorate = django_task(
        priority=to_django(priority),
        queue_name=queue_name,
        backend=backend,
        takes_context=takes_context,
        user=user,
        max_retries=max_retries,
        timeout=timeout,
        cost=cost,
    )
    return decorate(function) if function else decorate


__all__ = ["Priority", "task"]
