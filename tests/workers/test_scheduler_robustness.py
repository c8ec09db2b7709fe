"""A real `runscheduler` next to rows saved past validation: a bad schedule is skipped with
one clear error, the others fire, the process never dies of it."""

from __future__ import annotations

import signal

import pytest

from queueapp.models import Schedule
from tests.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_runscheduler_skips_an_invalid_schedule_and_fires_the_valid_one(fq_settings, queue, env, schedulers, tmp_path):
    Schedule.objects.create(name="broken", cron="61 * * * *", task="queueapp.demo.noop", user="acme")
    Schedule.objects.create(name="tick", cron="* * * * * *", task="queueapp.demo.noop", user="acme")
    proc = schedulers(env, "--tick", "0.2", "--lease", "3")
    wait_for(lambda: queue.stats()["enqueued"] >= 2, timeout=60, what="the valid schedule firing twice")
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    log = (tmp_path / "runscheduler-0.log").read_text()
    assert "schedule broken is not usable" in log and "Traceback" not in log
    assert all(t.func == "queueapp.demo.noop" for t in queue.tenant_queue("acme", 0, 100).items)
