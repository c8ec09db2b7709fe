"""python manage.py setupdemo --admin-password-file var/admin-password

Creates (or resets) the staff login `admin` and enqueues demo tasks for
several tenants, one of them noisy: what `make run` shows on a fresh machine."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from queueapp import demo

QUIET_TENANTS = ("acme", "globex", "initech", "umbrella")


class Command(BaseCommand):
    help = "Create the admin login and enqueue demo tasks (one noisy tenant, four quiet ones)."

    def add_arguments(self, parser):
        parser.add_argument("--admin-password-file", default=None,
                            help="read the admin password from this file, creating it with a random one")
        parser.add_argument("--noisy", type=int, default=3000, help="tasks for the noisy tenant (default 3000)")
        parser.add_argument("--no-tasks", action="store_true", help="only create the admin login")

    def handle(self, *args, **options):
        password = self._password(options["admin_password_file"])
        user, _ = get_user_model().objects.get_or_create(username="admin", defaults={"email": "admin@localhost"})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"login: admin / {password}")
        if options["no_tasks"]:
            return
        backend = demo.noop.get_backend()
        noisy = demo.sleep.using(user="noisy")
        backend.enqueue_many(noisy, [((2,), {})] * options["noisy"])
        for tenant in QUIET_TENANTS:
            backend.enqueue_many(demo.echo.using(user=tenant), [((f"hello {tenant} #{i}",), {}) for i in range(5)])
            demo.sleep.using(user=tenant).enqueue(200)
        demo.fail.using(user="acme").enqueue("demo failure: this task ends in the dead-letter queue")
        total = options["noisy"] + len(QUIET_TENANTS) * 6 + 1
        self.stdout.write(f"enqueued {total} demo tasks: {options['noisy']} for 'noisy', "
                          f"6 each for {', '.join(QUIET_TENANTS)}, and one that always fails")

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
