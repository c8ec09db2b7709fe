"""A rate-limited tenant against a real runworker: 20 tasks per second (bursts of 1) over a 10 s
window, while an unlimited tenant's tasks run at full speed beside it (lib/limits.lua)."""

from __future__ import annotations

import pytest

from queueapp.engine import Task
from queueapp.models import Tenant
from tests.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
RATE, WINDOW_S, WARM_UP_S = 20, 10, 1


def test_a_rate_limited_tenant_runs_at_its_rate_and_the_others_at_full_speed(fq_settings, queue, env, workers):
    Tenant.objects.create(key="limited", rate_limit=RATE, rate_burst=1)
    limited = [Task("queueapp.demo.noop", user="limited") for _ in range(RATE * (WINDOW_S + WARM_UP_S + 3))]
    free = [Task("queueapp.demo.noop", user="free") for _ in range(40_000)]
    queue.push_many(limited)
    queue.push_many(free)
    proc = workers(env, "--worker-id", "w-rate", "--concurrency", "4")
    needed = RATE * (WINDOW_S + WARM_UP_S + 1)

    def started():
        return [t.started_at for t in queue.tasks([t.id for t in limited]) if t.started_at]

    wait_for(lambda: len(started()) >= needed, timeout=120, interval=0.5, what=f"{needed} limited tasks started")
    proc.terminate()
    proc.wait(60)
    starts = sorted(started())
    t0 = starts[0] + WARM_UP_S * 1000
    in_window = [s for s in starts if t0 <= s < t0 + WINDOW_S * 1000]
    assert RATE * WINDOW_S - 2 * WINDOW_S <= len(in_window) <= RATE * WINDOW_S + 2 * WINDOW_S, len(in_window)
    free_in_window = sum(
        1 for t in queue.tasks([t.id for t in free]) if t.started_at and t0 <= t.started_at < t0 + 10_000
    )
    assert free_in_window >= 10 * len(in_window), (free_in_window, len(in_window))
    per_second = [sum(1 for s in in_window if t0 + 1000 * k <= s < t0 + 1000 * (k + 1)) for k in range(WINDOW_S)]
    print(f"\nlimited: {len(in_window)} in {WINDOW_S} s, per second {per_second}; free: {free_in_window}")
    assert max(per_second) <= RATE + 2, per_second  # no burst past the bucket


def _starts(queue, tasks):
    return sorted(t.started_at for t in queue.tasks([t.id for t in tasks]) if t.started_at)


@pytest.mark.parametrize("concurrency", ["1", "4"])  # the slot loop, the pooled dispatcher
def test_a_rate_limited_tenant_alone_keeps_its_rate(fq_settings, queue, env, workers, concurrency):
    """With nothing else to run the worker idles between tokens: it must wake when the next is
    due (the empty pop says when), not a backoff later, or a bucket of 1 loses its credit."""
    window = 5
    Tenant.objects.create(key="alone", rate_limit=RATE, rate_burst=1)
    tasks = [Task("queueapp.demo.noop", user="alone") for _ in range(RATE * (window + WARM_UP_S + 3))]
    queue.push_many(tasks)
    proc = workers(env, "--worker-id", f"w-alone-{concurrency}", "--concurrency", concurrency)
    needed = RATE * (window + WARM_UP_S + 1)
    wait_for(lambda: len(_starts(queue, tasks)) >= needed, timeout=120, interval=0.5, what=f"{needed} started")
    proc.terminate()
    proc.wait(60)
    starts = _starts(queue, tasks)
    t0 = starts[0] + WARM_UP_S * 1000
    n = sum(1 for s in starts if t0 <= s < t0 + window * 1000)
    print(f"\nalone, concurrency {concurrency}: {n} in {window} s")
    assert RATE * window - 2 * window <= n <= RATE * window + 2 * window, n


def test_a_burst_worker_waits_for_a_rate_limited_tenant_before_it_exits(fq_settings, queue, env, workers):
    """A held tenant still has work: a --burst worker drains it (idle() sees the hold), then exits."""
    Tenant.objects.create(key="slow", rate_limit=10, rate_burst=1)
    tasks = [Task("queueapp.demo.noop", user="slow") for _ in range(15)]
    queue.push_many(tasks)
    proc = workers(env, "--worker-id", "w-burst-rate", "--burst")
    assert proc.wait(120) == 0
    done = queue.tasks([t.id for t in tasks])
    assert [t.state.value for t in done] == ["succeeded"] * len(tasks)
    starts = sorted(t.started_at for t in done)
    assert starts[-1] - starts[0] >= 1000, starts  # 15 tasks at 10/s with a burst of 1: 1.4 s at least
