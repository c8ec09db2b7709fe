"""FairQueue's race tasks: registered Django tasks (FAIRQUEUE_TASK_MODULES names this module)."""

from queueapp import task
from tests.perf.race import body


@task(max_retries=0)
def count():
    body.count()


@task(max_retries=0)
def heavy():
    body.heavy()


@task(max_retries=0)
def light(enqueued_at: float):
    body.light(enqueued_at)
