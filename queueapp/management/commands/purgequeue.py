"""python manage.py purgequeue TENANT --yes"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from queueapp import conf, tenants
from queueapp.engine.task import InvalidTask, check_name


class Command(BaseCommand):
    help = (
        "Move a tenant's queued and deferred tasks to the dead-letter queue (reason 'purged'), where "
        "they can be requeued or deleted. Running tasks finish."
    )

    def add_arguments(self, parser):
        parser.add_argument("tenant")
        parser.add_argument("--yes", action="store_true", help="really do it (otherwise only count)")

    def handle(self, *args, **options):
        try:
            key = check_name("tenant", options["tenant"])
        except InvalidTask as exc:
            raise CommandError(str(exc)) from exc
        waiting = tenants.queued_count(key)
        if not options["yes"]:
            self.stdout.write(f"{key} has {waiting} queued or deferred task(s); add --yes to purge them")
            return
        moved = conf.get_queue().purge(key, reason="purged", progress=lambda n: self.stdout.write(f"  {n} moved..."))
        self.stdout.write(f"purged {moved} task(s) of {key} to the dead-letter queue (reason purged)")
