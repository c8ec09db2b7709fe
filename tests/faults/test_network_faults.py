"""Network faults between the queue's clients and Redis, through the loopback
fault proxy (tests/fault_proxy.py): reliability-anchors section 6, T10-T12.

T10  one worker's traffic blackholed for 3 x lease_ttl
T11  200 ms +/- 100 ms latency on all Redis traffic
T12  connection reset after the enqueue script reached Redis, before its reply
"""

from __future__ import annotations

import asyncio
import re
import time
from urllib.parse import urlsplit

import pytest

from queueapp.engine import AsyncFairQueue, FairQueue, RedisOptions, Task, connect, connect_async
from queueapp.engine.errors import StaleLease
from tests.fault_harness import Ledger, drain, note, tally
from tests.fault_proxy import FaultProxy
from tests.processes import wait_for, worker_env

STEP = "tests.fault_tasks.step"
TASK_MODULES = "queueapp.demo,tests.fault_tasks"


def redis_port(url: str) -> int:
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        pytest.skip("the fault proxy only forwards to a loopback Redis")
    return parts.port or 6379


@pytest.fixture
def proxy(redis_url):
    with FaultProxy(redis_port(redis_url)) as p:
        yield p


def fault_env(redis_url, prefix, tmp_path, via: str | None = None, **extra):
    """A worker's environment: queue traffic to `via` (the proxy) or Redis, ledger to Redis directly."""
    return worker_env(
        via or redis_url,
        prefix,
        ledger=f"ledger:{prefix}",
        FQ_LEDGER_URL=redis_url,
        FAIRQUEUE_TASK_MODULES=TASK_MODULES,
        FAIRQUEUE_RETRY_BASE=0.1,
        FAIRQUEUE_RETRY_CAP=0.2,
        **extra,
    )


def drain_in_process(queue: FairQueue, worker: str = "drainer") -> dict[str, int]:
    """Pop and ack until empty; returns pops per task id (the executions of this drain)."""
    runs: dict[str, int] = {}
    while (lease := queue.pop(worker)) is not None:
        runs[lease.id] = runs.get(lease.id, 0) + 1
        lease.ack("ok")
    return runs


# -- T12 ---------------------------------------------------------------------------------
def test_t12_reset_after_the_enqueue_reached_redis_makes_one_task_per_id(redis_url, proxy, config, queue, raw):
    """redis-py retries a command whose connection died before the reply, so the push script
    runs twice; push is idempotent on the task id: the resend answers 'duplicate'
    (PushResult.created is False: the producer's DuplicateJob), never a second task."""
    producer = FairQueue(connect(RedisOptions(url=proxy.url(), retries=3, socket_timeout=5)), config)
    producer.push(Task("demo.noop", user="warmup"))  # the Functions library loaded: the next FCALL executes
    ids: list[str] = []

    singles = 30
    note("T12", f"RST after each of {singles} single push scripts reached Redis, before the reply")
    for i in range(singles):
        proxy.reset_after_request(b"FCALL", times=1)
        task = Task(STEP, args=[f"s{i}"], user=f"u{i % 3}")
        result = producer.push(task)
        assert result.id == task.id
        assert result.created is False  # the first send created it; the resend found it
        ids.append(task.id)
    assert proxy.resets == singles

    note("T12", "RST after a 1 000-task push_many pipeline (2 script calls) reached Redis")
    proxy.reset_after_request(b"FCALL", times=1)
    batch = [Task(STEP, args=[f"b{i}"], user=f"u{i % 5}") for i in range(1000)]
    results = producer.push_many(batch)
    assert [r.id for r in results] == [t.id for t in batch]
    assert proxy.resets == singles + 1
    ids += [t.id for t in batch]

    note("T12", "RST after an asyncio client's push reached Redis")

    async def push_async():
        aqueue = AsyncFairQueue(connect_async(RedisOptions(url=proxy.url(), retries=3)), config)
        try:
            await aqueue.push(Task("demo.noop", user="warmup"))
            proxy.reset_after_request(b"FCALL", times=1)
            task = Task(STEP, args=["async"], user="u0")
            result = await aqueue.push(task)
            return task.id, result
        finally:
            await aqueue.aclose()

    task_id, result = asyncio.run(push_async())
    assert result.id == task_id and result.created is False
    assert proxy.resets == singles + 2
    ids.append(task_id)

    stats = queue.stats()
    assert stats["enqueued"] == len(ids) + 2  # + the two warm-up tasks: nothing twice
    assert stats["queued"] == len(ids) + 2
    runs = drain_in_process(queue)
    t = tally("T12", queue, ids, runs={i: runs.get(i, 0) for i in ids})
    assert t.lost == 0 and t.succeeded == len(ids) and t.duplicates == 0
    assert not t.not_one_commit()


# -- T10 ---------------------------------------------------------------------------------
LOST = re.compile(r"task (\S+): lease lost")
LEASE = 2  # lease_ttl for T10/T11 workers (seconds); heartbeat lease/3, reaper lease/2


def held_by(queue: FairQueue, worker: str) -> list[str]:
    return [t.id for t in queue.running(0, 200).items if t.worker == worker]


@pytest.mark.slow
def test_t10_blackholed_worker_loses_its_leases_to_others_and_its_acks_are_stale(
    redis_url, proxy, prefix, tmp_path, queue, raw, workers
):
    """Worker A reaches Redis through the proxy, worker B directly. A's traffic is blackholed
    for 3 x lease_ttl: A starts nothing while cut off, its leases expire, B's reaper requeues
    them and B runs them; after the heal A's acks come back stale and A works on.
    Not checked (the design has no such thing): A abandoning its running tasks at a local
    lease deadline; see the xfail test below."""
    env_b = fault_env(redis_url, prefix, tmp_path, FAIRQUEUE_LEASE_SECONDS=LEASE)
    env_a = {**env_b, "REDIS_URL": proxy.url(), "REDIS_SOCKET_TIMEOUT": "1", "REDIS_CONNECT_TIMEOUT": "1"}
    tasks = [Task(STEP, args=[f"t{i}", 150], user=f"u{i % 5}", max_deliveries=5) for i in range(160)]
    ids = [r.id for r in queue.push_many(tasks)]
    worker_a = workers(env_a, "--worker-id", "wA", "--concurrency", "2")
    workers(env_b, "--worker-id", "wB", "--concurrency", "2")
    ledger = Ledger(raw, env_b["FQ_LEDGER"])
    pids = {worker_a.pid: "wA"}
    wait_for(lambda: held_by(queue, "wA") and queue.stats()["succeeded"] >= 10, timeout=60, what="A holding leases")

    cut = time.time()
    proxy.blackhole()
    note("T10", f"blackhole between worker A and Redis for {3 * LEASE} s (3 x lease_ttl {LEASE} s)")
    wait_for(lambda: time.time() - cut >= 3 * LEASE, timeout=3 * LEASE + 5, interval=0.1, what="the blackhole")
    started_while_cut = [s for s in ledger.starts() if s[1] == worker_a.pid and cut + 1.0 < s[2] < time.time()]
    healed = time.time()
    proxy.pass_through()
    note("T10", "healed")

    drain(queue, timeout=120)
    runs = ledger.runs()
    t = tally("T10", queue, ids, runs={tasks[i].id: runs.get(f"t{i}", 0) for i in range(len(tasks))})
    assert t.lost == 0 and t.dead == 0
    assert not t.not_one_commit()  # one terminal commit per task, stale acks changed nothing
    assert started_while_cut == []  # A started nothing while cut off (1 s margin for in-flight pops)
    records = [queue.get_task(i) for i in ids]
    released = [r for r in records if r.deliveries >= 2]
    assert released, "A held leases when it was cut off: they must have been re-leased"
    for r in released:
        print("T10 re-leased:", r.id, [(h["state"], h.get("worker"), h.get("reason")) for h in r.history])
        assert r.worker_ids[0] == "wA" and r.worker == r.worker_ids[-1]  # taken from A; the last lease committed
    assert t.duplicates <= len(released)  # only the tasks A held can have run twice
    wait_for(
        lambda: "stale" in (tmp_path / "runworker-0.log").read_text(),
        timeout=30,
        what="A's stale ack after the heal",
    )
    log = (tmp_path / "runworker-0.log").read_text()
    stale = re.findall(r"task=(\S+) .*outcome=stale", log)
    # A's rejected acks are for the re-leased tasks, or for a task A itself committed when the cut
    # swallowed the reply: redis-py resends the ack after the heal and the resend is refused (the
    # record shows one delivery, one commit, by A)
    committed_by_a_unanswered = {r.id for r in records if r.deliveries == 1 and r.worker_ids == ["wA"]}
    assert set(stale) <= {r.id for r in released} | committed_by_a_unanswered
    after_heal = [s for s in ledger.starts() if pids.get(s[1]) == "wA" and s[2] > healed]
    print(f"T10 detail: re-leased={len(released)} stale_acks={len(stale)} A_runs_after_heal={len(after_heal)}")


@pytest.mark.xfail(
    strict=True,
    reason="not implemented: the worker keeps no local (monotonic) lease deadline, so a worker cut off "
    "from Redis keeps running its task after the lease expired and the task was handed on (two "
    "executions at once); T10 asks that it cancel or abandon it",
)
@pytest.mark.slow
def test_t10_cut_off_worker_stops_its_task_before_the_lease_is_handed_on(
    redis_url, proxy, prefix, tmp_path, queue, raw, workers
):
    env = fault_env(redis_url, prefix, tmp_path, via=proxy.url(), FAIRQUEUE_LEASE_SECONDS=LEASE)
    env.update(REDIS_SOCKET_TIMEOUT="1", REDIS_CONNECT_TIMEOUT="1")
    task = queue.push(Task(STEP, args=["long", 8000], user="u0", max_deliveries=5))
    workers(env, "--worker-id", "wA")
    wait_for(lambda: raw.sismember(f"{env['FQ_LEDGER']}:running", "long"), timeout=30, what="A running the task")
    proxy.blackhole()
    note("T10", "blackhole A while it runs an 8 s task (lease 2 s); the test itself re-leases the task")
    other = FairQueue(queue.redis, queue.config)
    lease = wait_for(lambda: other.reap() and other.pop("other"), timeout=15, what="the lease to expire")
    assert lease.id == task.id
    try:
        # A should have given up on its copy by now: its lease ended LEASE s after its last renewal
        assert not raw.sismember(f"{env['FQ_LEDGER']}:running", "long"), "A still runs the re-leased task"
    finally:
        proxy.pass_through()
        lease.ack("ok")


def test_t10_a_stale_ack_and_pop_does_not_strand_the_task_it_popped(queue, raw, prefix):
    """Seen in T10: after the heal, the cut-off worker's ack_and_pop reached Redis; the ack was
    stale, the pop leased the next task, and the worker never learned of it."""
    queue.push(Task(STEP, args=["first"], user="u0"))
    stale = queue.pop("wA")
    nxt = queue.push(Task(STEP, args=["next"], user="u0")).id
    raw.zadd(f"{prefix}:running", {stale.id: 0})  # the lease ran out while the worker was cut off
    assert queue.reap() == (1, 0)
    queue.pop("wB").ack("ok")  # another worker ran and committed it
    with pytest.raises(StaleLease):
        queue.ack_and_pop(stale, "late")
    record = queue.get_task(nxt)
    assert record.state == "queued", f"the popped task was left {record.state} by {record.worker}, unseen"


# -- T11 ---------------------------------------------------------------------------------
@pytest.mark.faults
@pytest.mark.slow
def test_t11_latency_on_all_redis_traffic_expires_no_healthy_lease(
    redis_url, proxy, prefix, tmp_path, queue, raw, workers
):
    """200 ms +/- 100 ms on every chunk, both ways, for every worker connection (a round trip
    costs 200-600 ms). Lease 4 s, heartbeat lease/3 (+/- 20 %): the worst heartbeat gap plus
    one-way latency, 1.6 + 0.3 s, stays under lease/2 (the T11 rule), and the worst gap plus a
    round trip, 2.2 s, far under the lease. Long tasks (1.5 leases) live on renewals only.
    Scaled from 60 s to about 20 s of latency."""
    lease = 4
    env = fault_env(redis_url, prefix, tmp_path, via=proxy.url(), FAIRQUEUE_LEASE_SECONDS=lease)
    for name in ("w1", "w2"):
        workers(env, "--worker-id", name, "--concurrency", "3")
    wait_for(lambda: len(queue.workers()) == 2, timeout=60, what="both workers up")
    proxy.latency(0.2, 0.1)
    note("T11", "latency 200 ms +/- 100 ms per chunk, both directions, on all worker traffic")
    probe = connect(RedisOptions(url=proxy.url()))
    started = time.monotonic()
    probe.ping()
    assert time.monotonic() - started >= 0.2  # the proxy does delay
    probe.close()
    long_tasks = [Task(STEP, args=[f"long{i}", int(lease * 1500)], user=f"u{i % 4}") for i in range(8)]
    short = [Task(STEP, args=[f"short{i}", 20], user=f"u{i % 4}") for i in range(120)]
    tasks = long_tasks + short
    ids = [r.id for r in queue.push_many(tasks)]
    latency_from = time.monotonic()
    drain(queue, timeout=180)
    latency_for = time.monotonic() - latency_from
    proxy.pass_through()
    note("T11", f"latency held for {latency_for:.0f} s while {len(ids)} tasks ran")
    ledger = Ledger(raw, env["FQ_LEDGER"])
    runs = ledger.runs()
    t = tally("T11", queue, ids, runs={task.id: runs.get(task.args[0], 0) for task in tasks})
    assert t.lost == 0 and t.dead == 0 and t.duplicates == 0
    assert not t.not_one_commit()
    assert queue.stats()["expired"] == 0  # no lease expired
    assert [r.deliveries for r in map(queue.get_task, ids)] == [1] * len(ids)
    assert ledger.overlaps() == []
    # The workers do log "lease lost" here, falsely: a heartbeat that snapshotted a lease just
    # before its ack reaches Redis after the ack and reports it lost (the task succeeded on that
    # same lease). Check that every such warning is that false alarm, not an expiry.
    warned = {m for log in tmp_path.glob("runworker-*.log") for m in LOST.findall(log.read_text())}
    for task_id in warned:
        record = queue.get_task(task_id)
        assert record.state == "succeeded" and record.deliveries == 1
    print(f"T11 detail: false 'lease lost' warnings={len(warned)} over {latency_for:.0f} s")
