"""Huey's race tasks: `huey_consumer tests.perf.race.huey_tasks.huey -w N -k thread`."""

import os

from huey import RedisHuey

from tests.perf.race import body

huey = RedisHuey("race", url=os.environ[body.URL_ENV])


@huey.task()
def count():
    body.count()


@huey.task()
def heavy():
    body.heavy()


@huey.task()
def light(enqueued_at: float):
    body.light(enqueued_at)
