"""Real `runworker` processes with SHARDS=3, on one Redis and on a loopback Redis Cluster
(REDIS_URL names one node; the client finds the cluster): every task of every shard runs
exactly once, with threads (ack_and_pop) and with the prefetching dispatcher alike."""

from __future__ import annotations

import pytest

from queueapp.engine import Task
from queueapp.engine.shards import ShardedQueue
from tests.processes import wait_for
from tests.redis_cluster import LoopbackCluster

pytestmark = pytest.mark.slow
TASKS = 90


@pytest.fixture(scope="module")
def cluster():
    c = LoopbackCluster(3).start()
    yield c
    c.cleanup()


@pytest.mark.parametrize("where", ["one-redis", "cluster"])
def test_workers_drain_every_shard_exactly_once(request, where, rclient, raw, config, env, workers, ledger):
    client, url = rclient, env["REDIS_URL"]
    if where == "cluster":
        node = request.getfixturevalue("cluster")
        client, url = node.client(), f"redis://127.0.0.1:{node.nodes[0].port}/0"
        request.addfinalizer(client.close)
    queue = ShardedQueue.over(client, config, 3)
    tags = [f"s{i}" for i in range(TASKS)]
    queue.push_many([Task("tests.fixture_tasks.record", args=[tag, 2], user=f"t{i % 9}") for i, tag in enumerate(tags)])
    assert sorted({queue.shard_of(f"t{i}") for i in range(9)}) == [0, 1, 2]
    shard_env = {**env, "FAIRQUEUE_SHARDS": "3", "REDIS_URL": url, "FQ_LEDGER_URL": env["REDIS_URL"]}
    one = workers(shard_env, "--worker-id", "threads", "--concurrency", "1", "--burst")
    many = workers(shard_env, "--worker-id", "prefetch", "--concurrency", "4", "--burst")
    wait_for(lambda: sum(ledger.done(t) for t in tags) == TASKS, timeout=90, what=f"{TASKS} tasks done")
    assert [ledger.runs(t) for t in tags] == [1] * TASKS  # none twice, none lost
    assert one.wait(60) == 0 and many.wait(60) == 0  # burst: both exit once every shard is idle
    assert queue.stats()["succeeded"] == TASKS and all(s.stats()["succeeded"] for s in queue.shards)
    assert {r.worker for r in queue.workers()} == {"threads", "prefetch"}


def test_a_worker_with_shards_serves_those_only(rclient, config, env, workers, ledger):
    queue = ShardedQueue.over(rclient, config, 3)
    users = {}
    for i in range(60):
        users.setdefault(queue.shard_of(f"t{i}"), f"t{i}")
    tags = {shard: [f"{shard}-{k}" for k in range(5)] for shard in range(3)}
    for shard, user in users.items():
        queue.push_many([Task("tests.fixture_tasks.record", args=[tag], user=user) for tag in tags[shard]])
    proc = workers({**env, "FAIRQUEUE_SHARDS": "3"}, "--worker-id", "w02", "--shards", "0,2", "--burst")
    assert proc.wait(90) == 0  # burst: exits once its shards are idle
    assert [ledger.runs(t) for t in tags[0] + tags[2]] == [1] * 10
    assert [ledger.runs(t) for t in tags[1]] == [0] * 5 and queue.shards[1].stats()["queued"] == 5


@pytest.mark.parametrize(
    ("shards_env", "spec", "message"),
    [("1", "0", "needs FAIRQUEUE['SHARDS'] > 1"), ("3", "0,7", "some of 0..2"), ("3", "x", "--shards 'x'")],
)
def test_bad_shards_options_are_clear_errors(env, workers, tmp_path, shards_env, spec, message):
    proc = workers({**env, "FAIRQUEUE_SHARDS": shards_env}, "--worker-id", "w", "--shards", spec)
    assert proc.wait(60) != 0
    output = (tmp_path / "runworker-0.log").read_text()
    assert message in output and "Traceback" not in output
