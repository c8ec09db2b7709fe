"""Celery: Redis broker, no result backend; the threads pool with the chatter turned off."""

from __future__ import annotations

import time

from tests.perf.race.adaptors.base import BIN, Adaptor, Context
from tests.perf.race.measure import Phase


class CeleryAdaptor(Adaptor):
    name = "celery"
    dist = "celery"
    batch_note = "`group(task.s() ...).apply_async()` (one publish per task)"
    config = (
        "`celery -A tests.perf.race.celery_tasks worker -P threads -c N --without-gossip --without-mingle "
        "--without-heartbeat`; Redis broker, no result backend, default prefetch (4 per thread)"
    )

    def setup(self, ctx: Context) -> None:
        super().setup(ctx)
        self.celery, self.tasks = self.load("celery", "tests.perf.race.celery_tasks")

    def after_flush(self) -> None:
        """kombu remembers it declared the queue; FLUSHALL removed the binding, so declare it again
        (else the publishes before a worker starts are routed nowhere)."""
        app = self.tasks.app
        with app.connection_for_write() as conn:
            app.amqp.queues[app.conf.task_default_queue].bind(conn.default_channel).declare()

    def enqueue_single(self, n: int, phase: Phase) -> None:
        count = self.tasks.count
        with phase:
            for _ in range(n):
                count.delay()

    def enqueue_batch(self, n: int, phase: Phase) -> None:
        count = self.tasks.count
        with phase:
            self.celery.group(count.s() for _ in range(n)).apply_async()

    def enqueue_one(self) -> None:
        self.tasks.count.delay()

    def enqueue_noisy(self, heavy_n: int, tenants: int, per_tenant: int) -> None:
        self.celery.group(self.tasks.heavy.s() for _ in range(heavy_n)).apply_async()
        for _ in range(tenants * per_tenant):
            self.tasks.light.delay(time.time())

    def worker_argv(self, concurrency: int) -> list[str]:
        return [
            str(BIN / "celery"),
            "-A",
            "tests.perf.race.celery_tasks",
            "worker",
            "-P",
            "threads",
            "-c",
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]


ADAPTOR = CeleryAdaptor()
