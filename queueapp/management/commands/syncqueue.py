"""python manage.py syncqueue [--check]"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from queueapp import conf, sync
from queueapp.engine.errors import QueueUnavailable


class Command(BaseCommand):
    help = (
        "Rebuild Redis's copy of tenants and worker configurations from the database, and make ready again "
        "tenants whose queued tasks no ready set lists (idempotent, safe while workers run). With --check, only "
        "report the drift and exit 1 when there is any."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="report drift (and orphaned tenants); change nothing")

    def handle(self, *args, **options):
        try:
            if options["check"]:
                return self._check()
            report = sync.full_sync()
            repaired = conf.get_queue().repair_ready()
            waiting = conf.get_queue().repair_waiting()
        except QueueUnavailable as exc:
            raise CommandError(f"Redis is not reachable at {conf.safe_url(conf.settings.REDIS_URL)}: {exc}") from exc
        self.stdout.write(
            f"synced {report.tenants} tenant(s), {report.workers} worker configuration(s) and "
            f"{report.schedules} schedule(s)"
        )
        for line in report.removed:
            self.stdout.write(f"removed from Redis (not in the database): {line}")
        if repaired.tenants or repaired.counters or repaired.gauges:
            self.stdout.write(
                f"repaired {repaired.tenants} stranded tenant(s) with {repaired.tasks} queued task(s); fixed "
                f"{repaired.counters} backlog counter(s) and {repaired.gauges} queued gauge(s)"
            )
        if waiting.changed:
            self.stdout.write(
                f"released {waiting.released} task(s) whose dependencies had all succeeded; crossed off "
                f"{waiting.crossed_off} succeeded dependency(ies); removed {waiting.stale} stale waiting entry(ies)"
            )
        if waiting.missing:
            self.stderr.write(
                f"{waiting.missing} task(s) wait on a dependency whose record is gone: cancel them "
                "(dashboard, task detail) or requeue what they wait for"
            )
        for (kind, name), why in sorted(report.skipped.items()):
            self.stderr.write(f"skipped {kind} {name!r}: {why}")
        if report.skipped:
            raise CommandError(
                f"{len(report.skipped)} row(s) could not be synced (the rest was): fix them in the dashboard "
                "or the admin and run `manage.py syncqueue` again",
                returncode=1,
            )

    def _check(self):
        lines = sync.drift()
        queue = conf.get_queue()
        for user, queued in queue.orphaned():
            self.stdout.write(f"orphaned: tenant {user} has {queued} queued task(s) that no enabled worker serves")
        for user, queued in queue.unregistered():
            self.stdout.write(f"unregistered: tenant {user} has {queued} queued task(s) and no Tenant row")
        found = queue.repair_ready(dry_run=True)
        if found.tenants:
            lines.append(
                f"stranded: {found.tenants} tenant(s) with {found.tasks} queued task(s) missing from a ready set"
            )
        if found.counters or found.gauges:
            lines.append(f"counters: {found.counters} backlog counter(s), {found.gauges} queued gauge(s) off the lanes")
        waiting = queue.repair_waiting(dry_run=True)
        if waiting.changed:
            lines.append(
                f"dependencies: {waiting.released} task(s) still waiting on dependencies that all succeeded, "
                f"{waiting.crossed_off} succeeded dependency(ies) not crossed off, {waiting.stale} stale entry(ies)"
            )
        if not lines:
            self.stdout.write("in sync: Redis matches the database")
            return
        for line in lines:
            self.stdout.write(f"drift: {line}")
        raise CommandError(
            f"{len(lines)} difference(s) between the database and Redis; run `manage.py syncqueue`", returncode=1
        )
