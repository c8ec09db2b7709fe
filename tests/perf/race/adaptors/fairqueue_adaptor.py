"""FairQueue through Django's Tasks API (FairQueueBackend), the path a Django user runs;
the worker is `manage.py runworker` with tests.settings, as tests/processes.py starts it."""

from __future__ import annotations

import os
import sys
import time

from tests.perf.race.adaptors.base import TENANTS, Adaptor, Context, split
from tests.perf.race.measure import Phase
from tests.processes import worker_env

PREFIX = "{race}"
TASK_MODULE = "tests.perf.race.fq_tasks"


class FairQueueAdaptor(Adaptor):
    name = "fairqueue"
    dist = "django"
    batch_note = "`FairQueueBackend.enqueue_many` (one pipelined push per tenant)"
    config = (
        "`manage.py runworker --concurrency N` (threads), tests.settings (per-task INFO log line), "
        f"a migrated SQLite database; throughput tasks spread over {TENANTS} tenants"
    )

    def setup(self, ctx: Context) -> None:
        super().setup(ctx)
        self.settings_env = {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "REDIS_URL": ctx.url,
            "FAIRQUEUE_PREFIX": PREFIX,
            "FAIRQUEUE_TASK_MODULES": TASK_MODULE,
            "FAIRQUEUE_VAR_DIR": str(ctx.work / "fairqueue-var"),
            "DATABASE_URL": f"sqlite:///{ctx.work / 'fairqueue.sqlite3'}",
        }
        os.environ.update(self.settings_env)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0, interactive=False)  # the worker syncs tenants from it at start
        from queueapp import conf
        from queueapp.engine import Task
        from tests.perf.race import fq_tasks

        self.tasks, self.queue, self.engine_task = fq_tasks, conf.get_queue(), Task
        self.backend = fq_tasks.count.get_backend()
        self.users = [f"tenant{i}" for i in range(TENANTS)]

    def version(self) -> str:
        import subprocess

        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        return f"{head.stdout.strip() or '?'} (Django {super().version()})"

    def enqueue_single(self, n: int, phase: Phase) -> None:
        count, users = self.tasks.count, self.users
        with phase:
            for i in range(n):
                count.using(user=users[i % TENANTS]).enqueue()

    def enqueue_batch(self, n: int, phase: Phase) -> None:
        count = self.tasks.count
        with phase:
            for user, k in zip(self.users, split(n, TENANTS), strict=True):
                self.backend.enqueue_many(count.using(user=user), [((), {})] * k)

    def extra_enqueues(self) -> dict[str, object]:
        return {"enqueue, batch: engine push_many": self._push_many}

    def _push_many(self, n: int, phase: Phase) -> None:
        path, users, task = self.tasks.count.module_path, self.users, self.engine_task
        with phase:
            self.queue.push_many([task(path, user=users[i % TENANTS]) for i in range(n)])

    def enqueue_one(self) -> None:
        self.tasks.count.using(user=self.users[0]).enqueue()

    def enqueue_noisy(self, heavy_n: int, tenants: int, per_tenant: int) -> None:
        self.backend.enqueue_many(self.tasks.heavy.using(user="heavy"), [((), {})] * heavy_n)
        for t in range(tenants):
            light = self.tasks.light.using(user=f"light{t}")
            for _ in range(per_tenant):
                light.enqueue(time.time())

    def worker_argv(self, concurrency: int) -> list[str]:
        self.spawned = getattr(self, "spawned", 0) + 1
        worker_id = f"race-c{concurrency}-{self.spawned}"
        return [sys.executable, "manage.py", "runworker", "--worker-id", worker_id, "--concurrency", str(concurrency)]

    def worker_env(self, concurrency: int) -> dict[str, str]:
        base = super().worker_env(concurrency)
        return {**base, **worker_env(self.ctx.url, PREFIX, **self.settings_env)}


ADAPTOR = FairQueueAdaptor()
