"""Celery's race tasks: `celery -A tests.perf.race.celery_tasks worker -P threads -c N ...`.
Redis as the broker, no result backend (Celery's default: results are off)."""

import os

from celery import Celery

from tests.perf.race import body

app = Celery("race", broker=os.environ[body.URL_ENV])
app.conf.broker_connection_retry_on_startup = True  # silences Celery 5's start-up deprecation warning


@app.task
def count():
    body.count()


@app.task
def heavy():
    body.heavy()


@app.task
def light(enqueued_at: float):
    body.light(enqueued_at)
