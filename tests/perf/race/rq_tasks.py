"""RQ's race jobs: plain functions, found by path by `rq worker` / `rq worker-pool`."""

from tests.perf.race import body


def count():
    body.count()


def heavy():
    body.heavy()


def light(enqueued_at: float):
    body.light(enqueued_at)
