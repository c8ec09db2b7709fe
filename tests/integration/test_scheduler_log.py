"""The scheduler names every task it fired in one tick (a catch-up and the on-time fire)."""

from __future__ import annotations

import logging

from queueapp.engine.scheduler import Scheduler
from queueapp.engine.settings import ScheduleSpec

MINUTE = 60_000


def test_a_catch_up_and_the_on_time_fire_are_both_logged(queue, caplog):
    spec = ScheduleSpec("every-minute", "* * * * *", "queueapp.demo.noop", user="acme", policy="run_once")
    scheduler = Scheduler(queue, tick=0.05, lease_seconds=2)
    scheduler.leading_until = float("inf")  # the leader lock is not under test here
    on_time = queue.redis_time_ms() // MINUTE * MINUTE
    scheduler.next_ms[spec.name] = on_time - 10 * MINUTE  # the scheduler was down for ten minutes
    with caplog.at_level(logging.INFO, logger="fairqueue.scheduler"):
        fired = scheduler._fire_due(spec, on_time + 1_000)
    ids = [t.id for t in queue.tenant_queue("acme", 0, 10).items]
    assert fired == 2 and len(ids) == 2
    (line,) = [r.getMessage() for r in caplog.records if "fired" in r.getMessage()]
    assert "fired 2 task(s)" in line and all(task_id in line for task_id in ids), line
