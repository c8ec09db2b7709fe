"""queuestats and purgequeue, as an operator runs them."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from queueapp.engine import State, Task


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_queuestats_reports_totals_lanes_and_backlog(fq_settings, queue):
    queue.push_many([Task("queueapp.demo.noop", user="acme", priority=6) for _ in range(3)])
    queue.push(Task("queueapp.demo.noop", user="globex"))
    report = json.loads(run("queuestats", "--json"))
    assert report["totals"]["queued"] == 4 and report["queued_by_lane"]["critical"] == 3
    assert report["backlog"] == {"acme": 3, "globex": 1}
    assert "acme" in run("queuestats") and json.loads(run("queuestats", "--tenant", "acme", "--json"))["queued"] == 3


def test_purgequeue_counts_then_moves_to_the_dlq(fq_settings, queue):
    ids = [t.id for t in queue.push_many([Task("queueapp.demo.noop", user="acme") for _ in range(5)])]
    assert "5 queued or deferred" in run("purgequeue", "acme")
    assert queue.stats()["queued"] == 5
    assert "purged 5 task(s)" in run("purgequeue", "acme", "--yes")
    assert all(queue.get_task(i).state == State.DEAD and queue.get_task(i).dead_reason == "purged" for i in ids)
    with pytest.raises(CommandError, match="not valid"):
        run("purgequeue", "a b", "--yes")
