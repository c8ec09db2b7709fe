"""Real `runscheduler` processes: one enqueue per due time with two schedulers,
a SIGKILLed leader replaced within the lease, graceful release of the lease."""

from __future__ import annotations

import signal
import time

import pytest

from queueapp.models import Schedule
from tests.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
LEASE = 3


def fire_times(queue, user="acme") -> list[int]:
    """Due times (ms) of the fires enqueued for `user`, from their cron task ids, sorted."""
    tasks = queue.tenant_queue(user, 0, 10_000).items
    return sorted(int(t.id.rsplit(":", 1)[1]) for t in tasks if t.id.startswith("cron:"))


def every_second(name="tick", policy=Schedule.SKIP) -> Schedule:
    return Schedule.objects.create(
        name=name, cron="* * * * * *", task="queueapp.demo.noop", user="acme", missed_fire_policy=policy
    )


def args():
    return ("--tick", "0.2", "--lease", str(LEASE))


def test_two_schedulers_enqueue_exactly_one_task_per_due_second(fq_settings, queue, env, schedulers):
    every_second()
    first, second = schedulers(env, *args()), schedulers(env, *args())
    time.sleep(20)
    for proc in (first, second):
        proc.send_signal(signal.SIGTERM)
    assert first.wait(10) == 0 and second.wait(10) == 0
    fires = fire_times(queue)
    assert len(fires) >= 16
    assert len(set(fires)) == len(fires)  # never twice
    assert all(b - a == 1000 for a, b in zip(fires, fires[1:], strict=False))  # never a gap


def test_a_killed_leader_is_replaced_and_run_once_catches_up_once(fq_settings, queue, env, schedulers, raw):
    schedule = every_second(policy=Schedule.RUN_ONCE)
    leader = schedulers(env, *args())
    wait_for(lambda: len(fire_times(queue)) >= 3, what="the first scheduler firing")
    follower = schedulers(env, *args())
    time.sleep(2)
    leader.send_signal(signal.SIGKILL)
    leader.wait(10)
    killed_at = int(time.time() * 1000)
    wait_for(lambda: fire_times(queue)[-1] > killed_at + 1000, timeout=LEASE + 6, what="a new leader firing")
    time.sleep(3)
    follower.send_signal(signal.SIGTERM)
    assert follower.wait(10) == 0
    fires = fire_times(queue)
    assert len(set(fires)) == len(fires)  # never doubled
    gaps = [(a, b) for a, b in zip(fires, fires[1:], strict=False) if b - a != 1000]
    missing = sum((b - a) // 1000 - 1 for a, b in gaps)
    assert len(gaps) <= 1 and missing <= LEASE + 1  # only the seconds before the takeover
    late = [
        t
        for t in queue.tenant_queue("acme", 0, 10_000).items
        if t.id.startswith("cron:") and t.enqueued_at - int(t.id.rsplit(":", 1)[1]) > 1000
    ]
    assert len(late) == 1  # run_once: one catch-up for the missed seconds
    schedule.refresh_from_db()
    assert schedule.last_task_id.startswith("cron:tick:") and schedule.next_fire_at is not None


def test_graceful_stop_releases_the_lease_so_another_takes_over_at_once(fq_settings, queue, env, schedulers, raw):
    every_second()
    first = schedulers(env, *args())
    wait_for(lambda: len(fire_times(queue)) >= 2, what="firing")
    first.send_signal(signal.SIGTERM)
    assert first.wait(10) == 0
    assert raw.exists(f"{queue.config.prefix}:sched:leader") == 0
    stopped_at = int(time.time() * 1000)
    schedulers(env, *args())
    wait_for(lambda: fire_times(queue)[-1] > stopped_at + 500, timeout=2.5, what="the next scheduler firing at once")
