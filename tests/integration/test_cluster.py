"""The engine on a real Redis Cluster (3 loopback primaries), one shard: every key of a queue
carries its prefix's one hash tag, so each script touches one slot and redis-py's
RedisCluster routes it with no change to the engine (the ground issue 16's shards build on).
Two prefixes land on different primaries and run side by side."""

from __future__ import annotations

import dataclasses

import pytest
from redis.cluster import RedisCluster

from queueapp.engine import Ack, FairQueue, Task
from queueapp.engine.keys import hash_tag_of
from queueapp.engine.settings import TenantSettings
from tests.redis_cluster import LoopbackCluster


@pytest.fixture(scope="module")
def cluster():
    c = LoopbackCluster(3).start()
    yield c
    c.cleanup()


@pytest.fixture
def cclient(cluster):
    client = cluster.client()
    yield client
    client.close()


def on_other_primaries(client: RedisCluster, prefixes: list[str]) -> bool:
    nodes = {client.get_node_from_key(hash_tag_of(p)).name for p in prefixes}
    return len(nodes) == len(prefixes)


def test_push_pop_ack_fail_and_the_dlq_on_a_cluster(cclient, config):
    q = FairQueue(cclient, config)
    q.push_many([Task("demo.noop", args=[i], user=f"t{i % 3}") for i in range(9)])
    q.push(Task("demo.noop", user="t0", max_retries=0))
    served = []
    lease = q.pop("w1")
    while lease is not None:
        served.append(lease.task.user)
        if len(served) == 10:
            q.fail(lease, RuntimeError("boom"), retry=False)
            lease = q.pop("w1")
        else:
            lease = lease.ack_and_pop(None)
    assert sorted(served) == sorted(["t0"] * 4 + ["t1"] * 3 + ["t2"] * 3)
    assert sorted(served[:3]) == ["t0", "t1", "t2"]  # round-robin over the tenants
    stats = q.stats()
    assert stats["succeeded"] == 9 and stats["dead"] == 1 and stats["queued"] == 0
    assert q.dead_letters().total == 1


def test_pooled_rounds_caps_and_time_fair_mode_on_a_cluster(cclient, config):
    q = FairQueue(cclient, dataclasses.replace(config, fairness="time"))
    q.set_tenant(TenantSettings("capped", max_running=2))
    q.push_many([Task("demo.noop", args=[i], user=u) for i in range(6) for u in ("capped", "free")])
    exchange = q.ack_and_pop_many([], "w1", 8)
    users = [le.task.user for le in exchange.leases]
    assert users.count("capped") == 2 and users.count("free") == 6
    exchange = q.ack_and_pop_many([Ack.of(le, None) for le in exchange.leases], "w1", 8)
    assert exchange.acked == ["ok"] * 8
    assert [le.task.user for le in exchange.leases] == ["capped", "capped"]


def test_two_queues_on_two_primaries_do_not_see_each_other(cclient, config):
    prefixes = ["{fq:a}", "{fq:b}"]  # slots 1962 and 14281: the first primary's and the third's
    assert on_other_primaries(cclient, prefixes)
    queues = [FairQueue(cclient, dataclasses.replace(config, prefix=p)) for p in prefixes]
    for i, q in enumerate(queues):
        q.push_many([Task("demo.noop", args=[n], user=f"u{i}") for n in range(5)])
    for i, q in enumerate(queues):
        leases = [q.pop("w1") for _ in range(6)]
        assert [le.task.user for le in leases if le] == [f"u{i}"] * 5 and leases[-1] is None
