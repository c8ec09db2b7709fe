"""A dependency's worker dies after the dependency ran and before its ack reached
Redis (its traffic blackholed by the fault proxy, then SIGKILL): the lease expires,
another worker runs the dependency again, and its ack releases every dependent
exactly once."""

from __future__ import annotations

import json

import pytest

from queueapp.engine import State, Task
from tests.fault_proxy import FaultProxy
from tests.faults.test_network_faults import STEP, fault_env, redis_port
from tests.processes import wait_for

LEASE = 2


@pytest.mark.slow
def test_sigkill_between_the_dependency_and_its_ack_releases_dependents_once(
    redis_url, prefix, tmp_path, queue, raw, workers
):
    ledger = f"ledger:{prefix}"
    queue.push(Task(STEP, args=["dep", 1000], user="u0", id="dep", max_deliveries=5))
    ids = [queue.push(Task(STEP, args=[f"d{i}"], user="u0", id=f"d{i}", depends_on=("dep",))).id for i in range(5)]
    with FaultProxy(redis_port(redis_url)) as proxy:
        env_a = fault_env(redis_url, prefix, tmp_path, via=proxy.url(), FAIRQUEUE_LEASE_SECONDS=LEASE)
        env_a.update(REDIS_SOCKET_TIMEOUT="1", REDIS_CONNECT_TIMEOUT="1")
        worker_a = workers(env_a, "--worker-id", "wA")
        wait_for(lambda: raw.hget(f"{ledger}:runs", "dep") == "1", timeout=60, what="wA running the dependency")
        proxy.blackhole()  # from here wA's ack (and heartbeats) cannot reach Redis
        wait_for(lambda: raw.hget(f"{ledger}:done", "dep") == "1", timeout=30, what="the dependency to finish on wA")
        worker_a.kill()
        worker_a.wait(30)
        assert queue.get_task("dep").state == State.RUNNING  # executed, never acked
        assert all(queue.get_task(i).state == State.DEFERRED for i in ids)
    workers(fault_env(redis_url, prefix, tmp_path, FAIRQUEUE_LEASE_SECONDS=LEASE), "--worker-id", "wB")
    wait_for(
        lambda: all(queue.get_task(i).state == State.SUCCEEDED for i in ids),
        timeout=120,
        what="the dependents to run after the dependency's second execution",
    )
    runs = {tag: int(n) for tag, n in raw.hgetall(f"{ledger}:runs").items()}
    assert runs == {"dep": 2, **{f"d{i}": 1 for i in range(5)}}
    pids = [json.loads(e)[1] for e in raw.lrange(f"{ledger}:execs", 0, -1) if json.loads(e)[0] == "dep"]
    assert len(set(pids)) == 2  # once on wA (its ack lost), once on wB
    assert queue.get_task("dep").deliveries == 2 and queue.stats()["waiting"] == 0
