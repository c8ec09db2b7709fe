"""Imported by a worker under test (FAIRQUEUE_TASK_MODULES): receivers of Django's task
signals that write each signal to the ledger, in the order received, so a test can check
what a real worker sent."""

from __future__ import annotations

import os

import redis
from django.tasks.signals import task_finished, task_started

_client = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)


def _record(name):
    def receiver(sender, task_result, **kwargs):
        key = f"{os.environ.get('FQ_LEDGER', 'ledger')}:signals"
        _client.rpush(key, f"{name}|{sender.__name__}|{task_result.id}|{task_result.status}")

    return receiver


started, finished = _record("started"), _record("finished")
task_started.connect(started, dispatch_uid="fq-test-started")
task_finished.connect(finished, dispatch_uid="fq-test-finished")


def broken(sender, task_result, **kwargs):
    """Connected only when FQ_BROKEN_RECEIVER is set: a receiver that raises."""
    raise RuntimeError("receiver bug")


if os.environ.get("FQ_BROKEN_RECEIVER"):
    task_started.connect(broken, dispatch_uid="fq-test-broken")
