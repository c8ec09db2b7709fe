"""python manage.py runscheduler [--run-now NAME] [--log-level LEVEL]"""

from __future__ import annotations

import signal
import sys

from django.core.management.base import BaseCommand, CommandError

from queueapp import conf, logs, scheduling
from queueapp.checks import check_queue_start
from queueapp.engine.errors import QueueUnavailable
from queueapp.engine.scheduler import Scheduler
from queueapp.models import Schedule


class Command(BaseCommand):
    help = (
        "Fire cron schedules: any number may run, one leads (Redis lease), and every due time is enqueued exactly once."
    )
    # not Django's whole suite before every start: FairQueue's own checks, once (queueapp/checks.py)
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--skip-checks", action="store_true", help="Skip system checks.")
        logs.add_level_option(parser)
        parser.add_argument("--run-now", metavar="NAME", help="enqueue schedule NAME's task once, now, and exit")
        parser.add_argument("--tick", type=float, default=0.25, help="seconds between passes (default 0.25)")
        parser.add_argument(
            "--lease",
            type=float,
            default=5.0,
            help="leader lease in seconds: a new leader takes over this long after one dies",
        )

    def handle(self, *args, **options):
        logs.set_level(options["log_level"])
        if not options["skip_checks"]:
            check_queue_start(self, logs.Say(self, "fairqueue.scheduler"))
        if options["run_now"]:
            return self._run_now(options["run_now"])
        if not 0.01 <= options["tick"] <= 60 or not 1 <= options["lease"] <= 300:
            raise CommandError("--tick must be 0.01-60 s and --lease 1-300 s")
        scheduler = Scheduler(
            conf.get_queue(), tick=options["tick"], lease_seconds=options["lease"], on_fire=scheduling.record_fire
        )

        def on_signal(signum, frame):
            scheduler.signal_stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        sys.exit(scheduler.run())

    def _run_now(self, name: str) -> None:
        schedule = Schedule.objects.filter(name=name).first()
        if schedule is None:
            known = ", ".join(Schedule.objects.values_list("name", flat=True)[:20]) or "none"
            raise CommandError(f"No schedule named {name!r} (schedules: {known})")
        try:
            task_id = scheduling.run_now(schedule)
        except QueueUnavailable as exc:
            raise CommandError(f"Redis is not reachable: {exc}") from exc
        self.stdout.write(task_id)
