"""Dramatiq's race actors: `dramatiq tests.perf.race.dramatiq_tasks -p 1 -t N`."""

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from tests.perf.race import body

broker = RedisBroker(url=os.environ[body.URL_ENV])
dramatiq.set_broker(broker)


@dramatiq.actor(max_retries=0)
def count():
    body.count()


@dramatiq.actor(max_retries=0)
def heavy():
    body.heavy()


@dramatiq.actor(max_retries=0)
def light(enqueued_at: float):
    body.light(enqueued_at)
