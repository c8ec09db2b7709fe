"""runworker's start-up sync (Redis lost its data) with a bad row in the DB: the row is
skipped and named, the worker serves every task."""

from __future__ import annotations

import pytest
from django.db import connection

from queueapp.engine import State, Task
from queueapp.models import Tenant

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_runworker_syncs_around_a_bad_tenant_row_and_runs_every_task(fq_settings, queue, env, workers, tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("writing a row past CHECK constraints needs SQLite's ignore_check_constraints")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA ignore_check_constraints = ON")
        Tenant.objects.bulk_create([Tenant(key="a\nb"), Tenant(key="heavy", weight=7)])
        cursor.execute("PRAGMA ignore_check_constraints = OFF")
    assert not queue.is_synced()  # as after a Redis restart without persistence
    ids = [queue.push(Task("tests.fixture_tasks.record", args=[f"t{i}", 0], user="heavy")).id for i in range(10)]
    proc = workers(env, "--worker-id", "w1", "--burst")
    assert proc.wait(120) == 0
    assert all(queue.get_task(i).state == State.SUCCEEDED for i in ids)
    assert queue.config_snapshot().tenants["heavy"].weight == 7
    log = (tmp_path / "runworker-0.log").read_text()
    assert "skipped tenant 'a\\nb'" in log and "Traceback" not in log
