"""RQ: one default queue; SimpleWorker (no fork per job), and a pool of 8 of them for concurrency 8."""

from __future__ import annotations

import time

from tests.perf.race.adaptors.base import BIN, Adaptor, Context
from tests.perf.race.measure import Phase


class RQAdaptor(Adaptor):
    name = "rq"
    dist = "rq"
    batch_note = "`Queue.enqueue_many` (one pipeline)"
    config = (
        "c1: `rq worker -w rq.SimpleWorker default`; c8: `rq worker-pool -n 8 -w rq.SimpleWorker default` "
        "(8 worker processes: RQ has no threads); default result TTL"
    )

    def setup(self, ctx: Context) -> None:
        super().setup(ctx)
        redis, rq, self.tasks = self.load("redis", "rq", "tests.perf.race.rq_tasks")
        self.queue_class = rq.Queue
        self.queue = rq.Queue("default", connection=redis.Redis.from_url(ctx.url))

    def enqueue_single(self, n: int, phase: Phase) -> None:
        count, q = self.tasks.count, self.queue
        with phase:
            for _ in range(n):
                q.enqueue(count)

    def enqueue_batch(self, n: int, phase: Phase) -> None:
        count, prepare = self.tasks.count, self.queue_class.prepare_data
        with phase:
            self.queue.enqueue_many([prepare(count) for _ in range(n)])

    def enqueue_one(self) -> None:
        self.queue.enqueue(self.tasks.count)

    def enqueue_noisy(self, heavy_n: int, tenants: int, per_tenant: int) -> None:
        prepare = self.queue_class.prepare_data
        self.queue.enqueue_many([prepare(self.tasks.heavy) for _ in range(heavy_n)])
        for _ in range(tenants * per_tenant):
            self.queue.enqueue(self.tasks.light, time.time())

    def worker_argv(self, concurrency: int) -> list[str]:
        common = ["-w", "rq.SimpleWorker", "--url", self.ctx.url, "default"]
        if concurrency == 1:
            return [str(BIN / "rq"), "worker", *common]
        return [str(BIN / "rq"), "worker-pool", "-n", str(concurrency), *common]


ADAPTOR = RQAdaptor()
