"""python manage.py queuestats [--tenant KEY] [--json]"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from queueapp import conf
from queueapp.dashboard import LANES
from queueapp.engine.errors import QueueUnavailable


class Command(BaseCommand):
    help = "Print the queue's counters: totals, queued by lane, tenants with the largest backlog, workers."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="one tenant's counters instead")
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        parser.add_argument("--top", type=int, default=10, help="tenants with the largest backlog to list")

    def handle(self, *args, **options):
        queue = conf.get_queue()
        try:
            if options["tenant"]:
                report = {"tenant": options["tenant"], **queue.tenant_stats(options["tenant"])}
            else:
                by_prio = queue.priority_stats()
                report = {
                    "totals": queue.stats(),
                    "queued_by_lane": {label: by_prio[p]["queued"] for p, label in LANES},
                    "backlog": dict(queue.tenants_with_backlog(0, options["top"]).items),
                    "workers": [
                        {
                            "worker": w.worker,
                            "state": w.state if w.is_alive() or w.state == "stopped" else "stale",
                            "host": w.host,
                            "pid": w.pid,
                            "processed": w.processed,
                        }
                        for w in queue.workers()
                    ],
                    "orphaned": dict(queue.orphaned()),
                }
        except QueueUnavailable as exc:
            raise CommandError(f"Redis is not reachable: {exc}") from exc
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        for section, value in report.items():
            if isinstance(value, dict):
                self.stdout.write(f"{section}:")
                for key, number in value.items():
                    self.stdout.write(f"  {key:<24} {number}")
            elif isinstance(value, list):
                self.stdout.write(
                    f"{section}: " + (", ".join(f"{w['worker']} ({w['state']})" for w in value) or "none")
                )
            else:
                self.stdout.write(f"{section}: {value}")
