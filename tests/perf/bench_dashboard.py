"""Dashboard render times with 10,000 tenants and 1,000,000 queued tasks:
`python -m tests.perf.bench_dashboard [--tenants 10000] [--tasks 1000000] [--shards 3 --cluster]`.
Prints a table; not a CI gate. Target: Overview and Users under 300 ms.

Renders go through Django's test client in this process (server-side time:
view, engine reads, template), as a signed-in staff user, against a private
redis-server and a fresh SQLite database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from queueapp.engine.settings import WorkerReport

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("FAIRQUEUE_VAR_DIR", tempfile.mkdtemp(prefix="fq-bench-dash-"))
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--renders", type=int, default=10)
    parser.add_argument("--shards", type=int, default=1, help="FAIRQUEUE['SHARDS'] (tenants over N fair queues)")
    parser.add_argument("--cluster", action="store_true", help="on a loopback Redis Cluster of 3 primaries")
    args = parser.parse_args()
    os.environ["FAIRQUEUE_SHARDS"] = str(args.shards)

    from tests.perf.harness import bench_redis

    if args.cluster:
        from tests.redis_cluster import LoopbackCluster

        cluster = LoopbackCluster(3).start()
        try:
            os.environ["REDIS_URL"] = cluster.url()
            setup_and_run(args)
        finally:
            cluster.cleanup()
        return
    with bench_redis() as url:
        os.environ["REDIS_URL"] = url
        setup_and_run(args)


def setup_and_run(args) -> None:
    import django

    django.setup()
    run(args)


def run(args) -> None:
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    from queueapp import conf, sync
    from queueapp.engine import Task
    from queueapp.models import Tenant, WorkerConfig
    from tests.perf.harness import print_table

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    Tenant.objects.bulk_create([Tenant(key=f"tenant-{i:05d}", weight=1 + i % 3) for i in range(args.tenants)])
    config = WorkerConfig.objects.create(worker_id="w1", concurrency=8)
    config.assigned_users.set(Tenant.objects.all()[: args.tenants // 2])
    sync.full_sync()
    queue = conf.get_queue()
    batch = 20_000
    for start in range(0, args.tasks, batch):
        queue.push_many(
            [
                Task("queueapp.demo.noop", args=[i], user=f"tenant-{i % args.tenants:05d}", priority=1 + i % 6)
                for i in range(start, min(start + batch, args.tasks))
            ]
        )
    lease = queue.pop("w1")
    for _ in range(20_000):  # some service, so fairness and throughput have data
        lease = lease.ack_and_pop(None)
    queue.heartbeat("w1", [], WorkerReport("w1", 0, 0, host="bench", pid=1, ttl_seconds=60))
    setup = time.perf_counter() - started
    memory = ", ".join(sorted({r.memory for r in queue.shard_rows()})) if args.shards > 1 else (
        queue.redis.info("memory")["used_memory_human"])  # fmt: skip

    client = Client()
    client.force_login(User.objects.create_superuser("bench", password="x"))
    rows = []
    for name, path in (
        ("Overview", "/"),
        ("Overview live partial (polled)", "/?partial=live"),
        ("Users", "/users/"),
        ("Users sorted by backlog", "/users/?sort=backlog"),
        ("Users search", "/users/?q=tenant-09"),
        ("A tenant's page", "/users/tenant-00042/"),
        ("Dead letters", "/dead-letters/"),
        ("Workers", "/workers/"),
    ):
        headers = {"HTTP_HX_REQUEST": "true"} if "partial" in path else {}
        times = []
        for _ in range(args.renders):
            begin = time.perf_counter()
            response = client.get(path, **headers)
            times.append((time.perf_counter() - begin) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        rows.append((name, statistics.median(times), min(times), max(times), "ms"))
    where = "a loopback cluster of 3 primaries" if args.cluster else "one Redis"
    print(f"\nsetup: {args.tenants:,} tenants, {args.tasks:,} queued tasks, {args.shards} shard(s) on {where}, "
          f"in {setup:.0f} s; Redis uses {memory}")  # fmt: skip
    print_table(f"Dashboard server-side render, median of {args.renders} (first render included in max)", rows)
    worst = max(r[1] for r in rows if r[0] in ("Overview", "Users"))
    print(f"\nOverview and Users median: {worst:.0f} ms (target < 300 ms): {'PASS' if worst < 300 else 'FAIL'}")


if __name__ == "__main__":
    main()
