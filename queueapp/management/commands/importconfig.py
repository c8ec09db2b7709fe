"""python manage.py importconfig FILE.yaml [--dry-run]"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from queueapp import conf, config_yaml, sync
from queueapp.engine.errors import QueueUnavailable


class Command(BaseCommand):
    help = (
        "Import the original FairQueue's YAML configuration (fairque_config.yaml): each worker becomes a "
        "worker configuration, each user it names a tenant (created when missing; existing tenants are not "
        "changed). The queue and redis sections are printed as the settings to set. Idempotent; everything is "
        "validated before anything is written, in one transaction, then Redis's copy is synced."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the YAML file, e.g. config/fairque_config.yaml")
        parser.add_argument("--dry-run", action="store_true", help="print the changes; write nothing")

    def handle(self, *args, **options):
        path, dry_run = options["file"], options["dry_run"]
        try:
            config = config_yaml.read(path)
            change_plan = config_yaml.plan(config)
        except config_yaml.ConfigFileError as exc:
            raise CommandError(str(exc)) from exc
        for line in change_plan.lines():
            self.stdout.write(f"would {line}" if dry_run else line)
        for worker_id in change_plan.untouched:
            self.stdout.write(f"left as is (not in the file): worker configuration {worker_id}")
        self._settings(config)
        if not change_plan.changed:
            self.stdout.write(f"no changes: the database already matches {path}")
            return
        created = sum(w.pk is None for w in change_plan.workers)
        counts = (
            f"{len(change_plan.new_tenants)} tenant(s) created, {created} worker configuration(s) created and "
            f"{len(change_plan.workers) - created} updated"
        )
        if dry_run:
            self.stdout.write(f"dry run: {counts}; nothing written")
            return
        config_yaml.apply(change_plan)
        self.stdout.write(f"imported {path}: {counts}")
        self._sync()

    def _settings(self, config: config_yaml.ConfigFile) -> None:
        if config.settings:
            self.stdout.write("settings to set (the queue and redis sections have no database rows):")
            for setting in config.settings:
                self.stdout.write(f"  {setting.text()}")
        if config.ignored:
            self.stdout.write("ignored:")
            for line in config.ignored:
                self.stdout.write(f"  {line}")

    def _sync(self) -> None:
        """The same rebuild as `syncqueue` and the Workers page's sync button."""
        try:
            report = sync.full_sync()
        except QueueUnavailable as exc:
            self.stderr.write(
                f"Redis is not reachable at {conf.safe_url(conf.settings.REDIS_URL)} ({exc}): the database has "
                "the import but Redis's copy does not; once Redis is up, run `manage.py syncqueue`"
            )
            return
        self.stdout.write(
            f"Redis: synced {report.tenants} tenant(s), {report.workers} worker configuration(s) and "
            f"{report.schedules} schedule(s)"
        )
        for line in report.removed:
            self.stdout.write(f"removed from Redis (not in the database): {line}")
        for (kind, name), why in sorted(report.skipped.items()):
            self.stderr.write(f"skipped {kind} {name!r}: {why}; fix it and run `manage.py syncqueue`")
