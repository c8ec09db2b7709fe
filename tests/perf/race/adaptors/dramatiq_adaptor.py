"""Dramatiq: RedisBroker with its default middleware; one worker process with N threads."""

from __future__ import annotations

import time

from tests.perf.race.adaptors.base import BIN, Adaptor, Context
from tests.perf.race.measure import Phase


class DramatiqAdaptor(Adaptor):
    name = "dramatiq"
    dist = "dramatiq"
    batch_note = "`dramatiq.group(...).run()` (which enqueues its messages one by one)"
    config = "`dramatiq tests.perf.race.dramatiq_tasks -p 1 -t N`; `RedisBroker` defaults, max_retries=0"

    def setup(self, ctx: Context) -> None:
        super().setup(ctx)
        self.dramatiq, self.tasks = self.load("dramatiq", "tests.perf.race.dramatiq_tasks")

    def enqueue_single(self, n: int, phase: Phase) -> None:
        count = self.tasks.count
        with phase:
            for _ in range(n):
                count.send()

    def enqueue_batch(self, n: int, phase: Phase) -> None:
        count = self.tasks.count
        with phase:
            self.dramatiq.group(count.message() for _ in range(n)).run()

    def enqueue_one(self) -> None:
        self.tasks.count.send()

    def enqueue_noisy(self, heavy_n: int, tenants: int, per_tenant: int) -> None:
        self.dramatiq.group(self.tasks.heavy.message() for _ in range(heavy_n)).run()
        for _ in range(tenants * per_tenant):
            self.tasks.light.send(time.time())

    def worker_argv(self, concurrency: int) -> list[str]:
        return [str(BIN / "dramatiq"), "tests.perf.race.dramatiq_tasks", "-p", "1", "-t", str(concurrency)]


ADAPTOR = DramatiqAdaptor()
