"""One shard against three on a loopback Redis Cluster (3 primaries), same run:
`python -m tests.perf.bench_shards --runs 3 --n 6000` (make bench-shards). Prints a table;
not a CI gate.

Each row: 3 real `runworker` processes (--concurrency 4, REDIS_URL naming one node, so the
client finds the cluster) are started and waited for, N no-op tasks of 30 tenants are pushed
with one push_many, and the clock runs until every task succeeded. Beside tasks/s it reports
each primary's Redis CPU (INFO cpu, user + sys) over the drain: with one shard one primary
does all the work; with three, each does about a third. On a machine with fewer cores than
primaries plus workers the wall-clock ratio is capped by the cores, so the table also gives
the ceiling the CPU figures imply: tasks per second of the busiest primary's CPU, i.e. what
the fleet could reach once every primary has a core of its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import redis

from queueapp.engine import EngineConfig, Task, connect
from queueapp.engine.connection import RedisOptions
from queueapp.engine.shards import ShardedQueue, shard_of_user
from tests.perf.harness import stop_process
from tests.processes import start_worker, wait_for, worker_env
from tests.redis_cluster import LoopbackCluster

TENANTS, WORKERS, CONCURRENCY = 30, 3, 4
LOG_DIR = Path(tempfile.mkdtemp(prefix="fq-bench-shards-"))


@dataclasses.dataclass
class Row:
    shards: int
    rate: float  # tasks/s, end to end
    cpu: list[float]  # Redis CPU seconds per primary over the drain, busiest first
    n: int
    commands: float  # commands per task, every node (a script call is one; includes the stats polls)

    @property
    def busiest(self) -> float:
        return max(self.cpu)

    @property
    def ceiling(self) -> float:
        """Tasks/s when the busiest primary runs at one full core."""
        return self.n / self.busiest if self.busiest else 0.0


def cpu_seconds(port: int) -> tuple[float, int]:
    """(Redis CPU seconds, commands processed) of one node so far."""
    info = redis.Redis(port=port).info()
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"]), int(info["total_commands_processed"])


def even_tenants(n: int, shards: int) -> list[str]:
    """n tenant keys, n / shards of them on each shard (crc32 would put 15/8/7 of t0..t29)."""
    per: dict[int, list[str]] = {i: [] for i in range(shards)}
    k = 0
    while any(len(v) < n // shards for v in per.values()):
        user = f"t{k}"
        if len(per[shard_of_user(user, shards)]) < n // shards:
            per[shard_of_user(user, shards)].append(user)
        k += 1
    return [u for i in range(n // shards) for u in (per[s][i] for s in range(shards))]


def drain(cluster: LoopbackCluster, shards: int, n: int, run: int) -> Row:
    url = f"redis://127.0.0.1:{cluster.nodes[0].port}/0"
    prefix = f"{{fqb{run}s{shards}}}"
    queue = ShardedQueue.over(connect(RedisOptions(url=url)), EngineConfig(prefix=prefix), shards)
    env = worker_env(url, prefix, FAIRQUEUE_SHARDS=str(shards), LOG_LEVEL="WARNING")
    procs = [
        start_worker(
            env,
            "--worker-id",
            f"b{run}-{shards}-{i}",
            "--concurrency",
            str(CONCURRENCY),
            log=LOG_DIR / f"b{run}-{shards}-{i}.log",
        )  # fmt: skip
        for i in range(WORKERS)
    ]
    try:
        wait_for(lambda: len(queue.workers()) >= WORKERS, timeout=90, what="every worker's heartbeat")
        users = even_tenants(TENANTS, 3)  # as many on each shard of the 3-shard rows
        tasks = [Task("queueapp.demo.noop", user=users[i % TENANTS]) for i in range(n)]
        before = [cpu_seconds(node.port) for node in cluster.nodes]
        start = time.perf_counter()
        queue.push_many(tasks)
        wait_for(lambda: queue.stats().get("succeeded", 0) >= n, timeout=max(300, n / 20), interval=0.02,
                 what=f"{n} tasks done")  # fmt: skip
        elapsed = time.perf_counter() - start
        after = [cpu_seconds(node.port) for node in cluster.nodes]
    finally:
        for proc in procs:
            stop_process(proc)
    cpu = sorted((a[0] - b[0] for a, b in zip(after, before, strict=True)), reverse=True)  # busiest first
    commands = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
    return Row(shards, n / elapsed, cpu, n, commands / n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--n", type=int, default=6000)
    args = parser.parse_args()
    cluster = LoopbackCluster(3).start()
    try:
        rows: dict[int, list[Row]] = {1: [], 3: []}
        for run in range(args.runs):
            for shards in (1, 3):  # interleaved: machine drift hits both alike
                rows[shards].append(drain(cluster, shards, args.n, run))
    finally:
        cluster.cleanup()
    print(f"\n{args.n} no-op tasks, {TENANTS} tenants, {WORKERS} runworker x --concurrency {CONCURRENCY}, "
          f"loopback cluster of 3 primaries; medians of {args.runs} (min-max)")  # fmt: skip
    print(f"{'shards':>6} | {'tasks/s':>22} | {'Redis CPU s, busiest first':>26} | {'µs/task':>8} | "
          f"{'commands/task':>13} | {'ceiling tasks/s':>16}")  # fmt: skip
    med = {}
    for shards, rs in rows.items():
        rates = [r.rate for r in rs]
        cpu = [statistics.median(r.cpu[i] for r in rs) for i in range(3)]
        ceiling = statistics.median(r.ceiling for r in rs)
        per_task = statistics.median(sum(r.cpu) / r.n * 1e6 for r in rs)
        med[shards] = (statistics.median(rates), ceiling)
        print(f"{shards:>6} | {statistics.median(rates):>8,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) | "
              f"{' '.join(f'{c:7.2f}' for c in cpu):>26} | {per_task:>8.0f} | "
              f"{statistics.median(r.commands for r in rs):>13.2f} | {ceiling:>16,.0f}")  # fmt: skip
    print(f"\n3 shards / 1 shard: {med[3][0] / med[1][0]:.2f}x tasks/s on this machine, "
          f"{med[3][1] / med[1][1]:.2f}x the ceiling (tasks per second of the busiest primary's CPU)")  # fmt: skip


if __name__ == "__main__":
    main()
