"""T16: a primary of a sharded queue killed during a drain (issue 16).

A loopback Redis Cluster of 3 primaries with a replica each (--cluster-node-timeout 2000),
a queue of 3 shards whose hash tags {fq:0} {fq:1} {fq:2} sit on the three primaries, two
`runworker --concurrency 4` processes given one node's URL. Pushes are acknowledged the
durable way the docs give: the engine's push call and `WAIT 1` in one pipeline on the
shard's primary, counted only when a replica has it. Mid-drain the primary of shard 1 is
SIGKILLed. While its replica takes over, the workers go on with shards 0 and 2 (pushes to
them go on too); after the failover shard 1's tasks complete. Then Jepsen's total-queue
check over every acknowledged push: lost = 0.
"""

from __future__ import annotations

import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from queueapp.engine import EngineConfig, RedisOptions, Task, connect
from queueapp.engine.shards import ShardedQueue
from tests.fault_harness import note, tally
from tests.faults.harness import JOB, LEASE, fault_env, wait_ready
from tests.processes import wait_for
from tests.redis_cluster import LoopbackCluster

pytestmark = [pytest.mark.slow, pytest.mark.faults]
PREFIX = "{fq}"  # {fq:0..2}: slots 3454, 7519, 11580, one on each primary of a 3-primary cluster
VICTIM = 1


@pytest.fixture
def cluster():
    c = LoopbackCluster(3, replicas=1).start()
    yield c
    c.cleanup()


class Producer:
    """Replica-acknowledged pushes, one pipeline per shard straight to its primary."""

    def __init__(self, cluster: LoopbackCluster, queue: ShardedQueue) -> None:
        self.cluster, self.queue = cluster, queue
        self.acknowledged: list[str] = []
        self.refused = 0

    def push(self, tasks: list[Task]) -> None:
        for shard, group in self.queue._mark(tasks).items():
            batch = [t for _, t in group]
            try:
                node = self.cluster.primary_for(shard_tag(shard))
                client = redis.Redis(port=node.port, decode_responses=True, socket_timeout=3,
                                     socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))  # fmt: skip
                pipe = client.pipeline(transaction=False)
                engine = self.queue.shards[shard]
                for call in engine.core.push_calls(batch):
                    engine._send(call, pipe)
                pipe.execute_command("WAIT", 1, 2000)
                replies = pipe.execute(raise_on_error=False)
                client.close()
            except redis.RedisError:
                self.refused += len(batch)
                continue
            if any(isinstance(r, Exception) for r in replies) or int(replies[-1]) < 1:
                self.refused += len(batch)
                continue
            self.acknowledged.extend(t.id for t in batch)


def shard_tag(shard: int) -> str:
    return "{" + f"fq:{shard}" + "}"


def tenants_of(queue: ShardedQueue, per_shard: int) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {i: [] for i in range(queue.n)}
    k = 0
    while any(len(v) < per_shard for v in out.values()):
        user = f"acct{k}"
        if len(out[queue.shard_of(user)]) < per_shard:
            out[queue.shard_of(user)].append(user)
        k += 1
    return out


def jobs(shard: int, users: list[str], start: int, n: int, ms: int) -> list[Task]:
    return [Task(JOB, args=[f"s{shard}-{i}", ms], user=users[i % len(users)], id=f"s{shard}-{i}")
            for i in range(start, start + n)]  # fmt: skip


def test_killing_one_primary_stops_only_its_shard_and_loses_nothing(cluster, procs, redis_url, raw, ledger_key):
    assert len({cluster.primary_for(shard_tag(i)).port for i in range(3)}) == 3  # one shard per primary
    victim = cluster.primary_for(shard_tag(VICTIM))
    url = f"redis://127.0.0.1:{cluster.primary_for(shard_tag(0)).port}/0"
    queue = ShardedQueue.over(connect(RedisOptions(url=url)), EngineConfig(prefix=PREFIX, lease_seconds=LEASE), 3)
    queue.mark_synced()
    queue.reap()  # a script call on every shard: each primary has the Functions library (its replica too)
    users = tenants_of(queue, 3)
    producer = Producer(cluster, queue)
    for shard in range(3):
        producer.push(jobs(shard, users[shard], 0, 150, ms=30))
    assert len(producer.acknowledged) == 450 and producer.refused == 0
    env = fault_env(url, PREFIX, redis_url, ledger_key, FAIRQUEUE_SHARDS=3)
    workers = [procs.start(env, f"w{i}", concurrency=4) for i in range(2)]
    wait_ready(queue, *workers)
    finished = f"{ledger_key}:finished"
    wait_for(lambda: raw.llen(finished) >= 60, timeout=60, what="the drain under way")

    def others_done() -> int:  # tasks of shards 0 and 2 finished so far
        return sum(1 for tag in raw.lrange(finished, 0, -1) if '"s0-' in tag or '"s2-' in tag)

    note("T16", f"SIGKILL the primary of shard {VICTIM} (port {victim.port}) mid-drain")
    victim.kill()
    killed_at = time.monotonic()
    progress, nxt = [], 150
    while cluster.primary_for(shard_tag(VICTIM)).port == victim.port:
        assert time.monotonic() - killed_at < 60, "no replica took over within 60 s"
        producer.push(jobs(0, users[0], nxt, 4, ms=30) + jobs(2, users[2], nxt, 4, ms=30))
        producer.push(jobs(VICTIM, users[VICTIM], nxt, 2, ms=30))  # refused until the failover
        nxt += 4
        progress.append((time.monotonic() - killed_at, others_done()))
        time.sleep(0.25)
    failover_s = time.monotonic() - killed_at
    note(
        "T16", f"failover after {failover_s:.1f} s; shards 0+2 finished over it: {progress[0][1]} -> {progress[-1][1]}"
    )
    # the other shards kept running: their count rose in every second of the outage
    for second in range(int(failover_s)):
        window = [n for t, n in progress if second <= t < second + 1.5]
        assert len(window) >= 2 and window[-1] > window[0], f"shards 0 and 2 stalled in second {second}: {progress}"
    producer.push(jobs(VICTIM, users[VICTIM], 10_000, 20, ms=30))  # shard 1 takes pushes again
    ids = producer.acknowledged
    wait_for(lambda: all_terminal(queue, ids), timeout=120, interval=0.5, what="every acknowledged task terminal")
    runs = {k: int(v) for k, v in raw.hgetall(f"{ledger_key}:runs").items()}
    result = tally("T16 cluster failover", queue, ids, runs)
    print(f"T16 acknowledged {len(ids)}, refused {producer.refused} (shard {VICTIM} while it had no primary)")
    assert result.lost == 0 and result.succeeded == len(ids)
    assert all(runs.get(task_id, 0) >= 1 for task_id in ids)
    assert all(wp.alive() for wp in workers)


def all_terminal(queue: ShardedQueue, ids: list[str]) -> bool:
    stats = queue.stats()
    return stats.get("succeeded", 0) + stats.get("dead", 0) >= len(ids) and not stats.get("running")
