"""Rows that reach the DB past validation (the ORM without full_clean, an old row after an
upgrade, a through-table insert) never stop sync: each bad row is skipped and named, the rest
is synced, the command exits 1 with a summary instead of a traceback."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.db import DataError, IntegrityError, connection, transaction

from queueapp.engine.settings import TenantSettings
from queueapp.models import Schedule, Tenant, WorkerConfig
from tests.commands import run

pytestmark = pytest.mark.django_db(transaction=True)


def syncqueue(*args):
    return run("syncqueue", *args, with_stderr=True)


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (Tenant, {"key": "a\nb"}),
        (Tenant, {"key": "k" * 300}),
        (Tenant, {"key": ""}),
        (WorkerConfig, {"worker_id": "has space"}),
        (Schedule, {"name": "bad name", "cron": "* * * * *", "task": "queueapp.demo.noop"}),
        (Schedule, {"name": "ok", "user": "bad\tuser", "cron": "* * * * *", "task": "queueapp.demo.noop"}),
    ],
)
def test_the_database_refuses_names_the_queue_would_refuse(fq_settings, model, fields):
    """Check constraints: the ORM path that skips full_clean cannot store them (SQLite and PostgreSQL;
    PostgreSQL refuses a value over varchar(128) as DataError before the check runs)."""
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        model.objects.create(**fields)
    assert model.objects.count() == 0


@contextmanager
def constraints_off():
    """An old row saved before the constraints existed: only SQLite lets a test write one."""
    if connection.vendor != "sqlite":
        pytest.skip("writing a row past CHECK constraints needs SQLite's ignore_check_constraints")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA ignore_check_constraints = ON")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA ignore_check_constraints = OFF")


def test_syncqueue_skips_an_old_bad_tenant_row_and_syncs_the_rest(fq_settings, queue):
    with constraints_off():
        Tenant.objects.bulk_create([Tenant(key="a\nb"), Tenant(key="x" * 300), Tenant(key="heavy", weight=7)])
    code, out = syncqueue()
    assert code == 1, out
    assert "skipped tenant 'a\\nb'" in out and f"skipped tenant '{'x' * 300}'" in out
    assert "2 row(s) could not be synced (the rest was)" in out and "Traceback" not in out
    assert queue.config_snapshot().tenants == {"heavy": TenantSettings("heavy", 7, False)}
    code, out = syncqueue("--check")
    assert code == 1 and "tenant 'a\\nb': cannot be synced" in out


def test_syncqueue_skips_a_worker_config_the_engine_refuses(fq_settings, queue):
    """A through-table insert skips the overlap check: a tenant both assigned and stolen."""
    a, b = Tenant.objects.create(key="a"), Tenant.objects.create(key="b")
    good = WorkerConfig.objects.create(worker_id="good")
    good.assigned_users.add(b)
    bad = WorkerConfig.objects.create(worker_id="bad")
    bad.assigned_users.add(a)
    WorkerConfig.steal_targets.through.objects.create(workerconfig=bad, tenant=a)
    code, out = syncqueue()
    assert code == 1 and "skipped worker 'bad'" in out and "cannot be both assigned and a steal target" in out
    snap = queue.config_snapshot()
    assert snap.workers["good"].assigned == ("b",) and set(snap.tenants) == {"a", "b"}
    assert snap.workers["bad"].assigned == ("a",)  # its last good copy stays; it is not removed


def test_a_schedule_row_with_arguments_of_the_wrong_type_is_skipped(fq_settings, queue):
    Schedule.objects.create(name="odd", cron="* * * * *", task="queueapp.demo.noop", args={"not": "a list"})
    Schedule.objects.create(name="fine", cron="* * * * *", task="queueapp.demo.noop")
    code, out = syncqueue()
    assert code == 1 and "skipped schedule 'odd'" in out
    assert set(queue.config_snapshot().schedules) == {"fine"}
