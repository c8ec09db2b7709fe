"""python manage.py setupdemo --admin-password-file var/admin-password

Creates (or resets) the staff login `admin`, six demo tenants (user:1 is
noisy), a schedule (demo-ping, every 15 s) and two worker configurations (worker-001 serves users 1, 3, 5 and
steals from 2, 4, 6; worker-002 the reverse), and enqueues demo tasks: what
`make run` shows on a fresh machine."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from queueapp import demo
from queueapp.models import Schedule, Tenant, WorkerConfig

TENANTS = {
    "user:1": "Acme (noisy)",
    "user:2": "Globex",
    "user:3": "Initech",
    "user:4": "Umbrella",
    "user:5": "Hooli",
    "user:6": "Stark",
}
NOISY = "user:1"
QUIET_TENANTS = tuple(k for k in TENANTS if k != NOISY)
WORKERS = {
    "worker-001": (("user:1", "user:3", "user:5"), ("user:2", "user:4", "user:6")),
    "worker-002": (("user:2", "user:4", "user:6"), ("user:1", "user:3", "user:5")),
}


class Command(BaseCommand):
    help = "Create the admin login and enqueue demo tasks (one noisy tenant, four quiet ones)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--admin-password-file",
            default=None,
            help="read the admin password from this file, creating it with a random one",
        )
        parser.add_argument("--noisy", type=int, default=3000, help="tasks for the noisy tenant (default 3000)")
        parser.add_argument("--no-tasks", action="store_true", help="only create the admin login")

    def handle(self, *args, **options):
        password = self._password(options["admin_password_file"])
        user, _ = get_user_model().objects.get_or_create(username="admin", defaults={"email": "admin@localhost"})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"login: admin / {password}")
        self._configure()
        if options["no_tasks"]:
            return
        backend = demo.noop.get_backend()
        noisy = demo.sleep.using(user=NOISY)
        backend.enqueue_many(noisy, [((2,), {})] * options["noisy"])
        for tenant in QUIET_TENANTS:
            backend.enqueue_many(demo.echo.using(user=tenant), [((f"hello {tenant} #{i}",), {}) for i in range(5)])
            demo.sleep.using(user=tenant).enqueue(200)
        demo.fail.using(user="user:2").enqueue("demo failure: this task ends in the dead-letter queue")
        pipeline = demo.extract.bind() >> (demo.transform.bind() | demo.count.bind()) >> demo.load.bind()
        run = pipeline.enqueue(user="user:4", name="demo-etl")
        total = options["noisy"] + len(QUIET_TENANTS) * 6 + 1 + len(run.results)
        self.stdout.write(
            f"enqueued {total} demo tasks: {options['noisy']} for {NOISY} (noisy), "
            f"6 each for {', '.join(QUIET_TENANTS)}, one that always fails, and the pipeline demo-etl "
            f"({len(run.results)} steps) for user:4"
        )

    def _configure(self) -> None:
        """Demo tenants and the two worker configurations (kept if they exist)."""
        with transaction.atomic():
            tenants = {
                key: Tenant.objects.get_or_create(key=key, defaults={"name": name})[0] for key, name in TENANTS.items()
            }
            for worker_id, (assigned, steal) in WORKERS.items():
                config, created = WorkerConfig.objects.get_or_create(worker_id=worker_id, defaults={"concurrency": 2})
                if created:
                    config.assigned_users.set([tenants[k] for k in assigned])
                    config.steal_targets.set([tenants[k] for k in steal])
            Schedule.objects.get_or_create(
                name="demo-ping",
                defaults={"cron": "* * * * * */15", "task": "queueapp.demo.echo", "args": ["ping"], "user": "user:3"},
            )
        self.stdout.write(
            f"tenants: {', '.join(TENANTS)}; schedule demo-ping every 15 s; workers: "
            + "; ".join(f"{w} serves {', '.join(a)} and steals from {', '.join(s)}" for w, (a, s) in WORKERS.items())
        )

    @staticmethod
    def _password(path: str | None) -> str:
        if not path:
            return secrets.token_urlsafe(12)
        file = Path(path)
        if file.exists() and file.read_text().strip():
            return file.read_text().strip()
        file.parent.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(12)
        file.write_text(password + "\n")
        file.chmod(0o600)
        return password
