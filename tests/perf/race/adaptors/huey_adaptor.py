"""Huey: RedisHuey with its defaults; the consumer with threads."""

from __future__ import annotations

import time

from tests.perf.race.adaptors.base import BIN, Adaptor, Context
from tests.perf.race.measure import Phase


class HueyAdaptor(Adaptor):
    name = "huey"
    dist = "huey"
    batch_note = "a loop of single calls: Huey has no batch enqueue (`huey.enqueue(group)` loops too)"
    config = "`huey_consumer tests.perf.race.huey_tasks.huey -w N -k thread`; `RedisHuey` defaults (blocking pop)"

    def setup(self, ctx: Context) -> None:
        super().setup(ctx)
        (self.tasks,) = self.load("tests.perf.race.huey_tasks")

    def enqueue_single(self, n: int, phase: Phase) -> None:
        count = self.tasks.count
        with phase:
            for _ in range(n):
                count()

    enqueue_batch = enqueue_single

    def enqueue_one(self) -> None:
        self.tasks.count()

    def enqueue_noisy(self, heavy_n: int, tenants: int, per_tenant: int) -> None:
        for _ in range(heavy_n):
            self.tasks.heavy()
        for _ in range(tenants * per_tenant):
            self.tasks.light(time.time())

    def worker_argv(self, concurrency: int) -> list[str]:
        return [str(BIN / "huey_consumer"), "tests.perf.race.huey_tasks.huey", "-w", str(concurrency), "-k", "thread"]


ADAPTOR = HueyAdaptor()
