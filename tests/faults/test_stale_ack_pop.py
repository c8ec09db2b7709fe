"""The engine-level twin of T03b: a refused (stale) ack in ack_and_pop leases nothing."""

from __future__ import annotations

import pytest

from queueapp.engine import StaleLease, Task


def test_a_stale_ack_and_pop_leases_no_next_task(queue, config):
    first = queue.push(Task("queueapp.demo.echo", user="a")).id
    lease = queue.pop("w1", lease_seconds=30)
    assert lease.id == first
    queue.redis.zadd(config.keys.running(), {first: 0})  # its lease expired...
    assert queue.reap() == (1, 0)  # ...and was reaped
    again = queue.pop("w2")  # another worker holds it now
    nxt = queue.push(Task("queueapp.demo.echo", user="b")).id
    with pytest.raises(StaleLease):
        lease.ack_and_pop("late")
    assert queue.get_task(nxt).state == "queued" and queue.get_task(nxt).deliveries == 0
    assert queue.stats()["running"] == 1
    again.ack("ok")
