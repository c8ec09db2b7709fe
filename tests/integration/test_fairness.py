"""Fair pop across tenants: round-robin, assigned first, stealing, weights, pause."""

from __future__ import annotations

import pytest

from queueapp.engine import ConfigError, Task
from queueapp.engine.settings import TenantSettings, WorkerSettings


def fill(q, user, n, **kw):
    q.push_many([Task("demo.noop", args=[i], user=user, **kw) for i in range(n)])


def serve(q, worker, n):
    users = []
    for _ in range(n):
        lease = q.pop(worker)
        if lease is None:
            break
        users.append(lease.task.user)
        lease.ack()
    return users


@pytest.mark.one_shard(
    "exact order across tenants, a property of one shard (docs/operations.md, fairness across shards)"
)
def test_round_robin_across_tenants_that_have_work(anyqueue):
    for user in ("a", "b", "c"):
        fill(anyqueue, user, 3)
    assert serve(anyqueue, "w", 9) == ["a", "b", "c"] * 3


@pytest.mark.one_shard(
    "exact order across tenants, a property of one shard (docs/operations.md, fairness across shards)"
)
def test_quiet_tenant_is_not_stuck_behind_a_noisy_one(queue):
    fill(queue, "noisy", 5000)
    for user in ("q1", "q2", "q3"):
        fill(queue, user, 3)
    served = serve(queue, "w", 12)
    # every quiet task within the first 12 pops: 3 rounds of (noisy, q1, q2, q3)
    assert sorted(served) == sorted(["noisy"] * 3 + ["q1", "q2", "q3"] * 3)


@pytest.mark.one_shard(
    "exact order across tenants, a property of one shard (docs/operations.md, fairness across shards)"
)
def test_a_tenant_that_arrives_late_is_served_within_one_round(queue):
    for user in ("a", "b", "c", "d"):
        fill(queue, user, 10)
    serve(queue, "w", 6)
    fill(queue, "late", 1)
    assert "late" in serve(queue, "w", 5)


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_emptied_tenant_leaves_the_ready_set(queue, raw, prefix):
    fill(queue, "a", 1)
    fill(queue, "b", 2)
    assert raw.zcard(f"{prefix}:ready:all") == 2
    serve(queue, "w", 2)
    assert raw.zrange(f"{prefix}:ready:all", 0, -1) == ["b"]
    serve(queue, "w", 1)
    assert raw.zcard(f"{prefix}:ready:all") == 0
    assert raw.zcard(f"{prefix}:backlog") == 0


@pytest.mark.one_shard(
    "exact order across tenants, a property of one shard (docs/operations.md, fairness across shards)"
)
def test_assigned_tenants_first_then_steal_targets(queue):
    queue.set_worker_config(WorkerSettings("w1", assigned=["a1", "a2"], steal=["s1"]))
    fill(queue, "s1", 3)
    fill(queue, "a1", 2)
    fill(queue, "a2", 2)
    fill(queue, "other", 3)
    served = serve(queue, "w1", 20)
    assert served[:4] == ["a1", "a2", "a1", "a2"]
    assert served[4:] == ["s1"] * 3  # steals only once assigned tenants are empty
    assert "other" not in served  # neither assigned nor a steal target


@pytest.mark.one_shard(
    "exact order across tenants, a property of one shard (docs/operations.md, fairness across shards)"
)
def test_assigned_work_arriving_preempts_stealing(queue):
    queue.set_worker_config(WorkerSettings("w1", assigned=["a"], steal=["s"]))
    fill(queue, "s", 5)
    assert serve(queue, "w1", 1) == ["s"]
    fill(queue, "a", 1)
    assert serve(queue, "w1", 2) == ["a", "s"]


@pytest.mark.one_shard(
    "exact order across tenants, a property of one shard (docs/operations.md, fairness across shards)"
)
def test_wildcard_steals_from_any_tenant_after_its_own(queue):
    queue.set_worker_config(WorkerSettings("w1", assigned=["mine"], steal_all=True))
    fill(queue, "orphan", 2)
    fill(queue, "mine", 2)
    assert serve(queue, "w1", 10) == ["mine", "mine", "orphan", "orphan"]
    stored = queue.worker_config("w1")
    assert stored is not None and stored.steal_all and stored.steal == ()


def test_worker_without_configuration_serves_every_tenant(queue):
    queue.set_worker_config(WorkerSettings("w1", assigned=["a"]))
    fill(queue, "a", 1)
    fill(queue, "b", 1)
    assert sorted(serve(queue, "unconfigured", 5)) == ["a", "b"]


@pytest.mark.one_shard(
    "exact order across tenants, a property of one shard (docs/operations.md, fairness across shards)"
)
def test_two_workers_with_mirrored_configs(queue):
    queue.set_worker_config(WorkerSettings("w1", assigned=["u1", "u3"], steal=["u2", "u4"]))
    queue.set_worker_config(WorkerSettings("w2", assigned=["u2", "u4"], steal=["u1", "u3"]))
    for user in ("u1", "u2", "u3", "u4"):
        fill(queue, user, 2)
    assert serve(queue, "w1", 4) == ["u1", "u3", "u1", "u3"]
    assert serve(queue, "w2", 2) == ["u2", "u4"]
    assert serve(queue, "w1", 3) == ["u2", "u4"]  # w1 steals what is left
    assert serve(queue, "w2", 1) == []


def test_config_applies_to_tenants_that_already_have_work(queue):
    fill(queue, "a", 2)
    fill(queue, "b", 2)
    queue.set_worker_config(WorkerSettings("w1", assigned=["b"]))
    assert serve(queue, "w1", 5) == ["b", "b"]
    queue.set_worker_config(WorkerSettings("w1", assigned=["a"]))
    assert serve(queue, "w1", 5) == ["a", "a"]


def test_disabled_worker_config_pops_nothing(queue):
    fill(queue, "a", 1)
    queue.set_worker_config(WorkerSettings("w1", assigned=["a"], enabled=False))
    assert queue.pop("w1") is None
    queue.delete_worker_config("w1")
    assert serve(queue, "w1", 2) == ["a"]


def test_tenant_cannot_be_assigned_and_stolen_by_one_worker(queue):
    with pytest.raises(ConfigError, match="both assigned and a steal target"):
        queue.set_worker_config(WorkerSettings("w1", assigned=["a"], steal=["a"]))


def test_weighted_share_when_both_backlogged(queue):
    queue.set_tenant(TenantSettings("heavy", weight=3))
    fill(queue, "heavy", 3000)
    fill(queue, "light", 3000)
    served = serve(queue, "w", 4000)
    ratio = served.count("heavy") / served.count("light")
    assert 2.9 <= ratio <= 3.1


def test_paused_tenant_is_not_served_until_resumed(queue):
    fill(queue, "a", 2)
    fill(queue, "b", 2)
    queue.set_tenant(TenantSettings("a", paused=True))
    fill(queue, "a", 1)
    assert serve(queue, "w", 10) == ["b", "b"]
    assert queue.tenant_stats("a")["queued"] == 3
    queue.set_tenant(TenantSettings("a", paused=False))
    assert serve(queue, "w", 10) == ["a", "a", "a"]


def test_pop_cost_does_not_depend_on_idle_tenants(queue, rclient):
    """10,000 configured tenants without work add no Redis commands to a pop."""

    def commands_for_one_pop():
        """Fewest Redis commands of 4 pops (a minute's first pop also sets bucket expiries)."""
        counts = []
        for _ in range(4):
            before = rclient.info("stats")["total_commands_processed"]
            lease = queue.pop("w1")
            counts.append(rclient.info("stats")["total_commands_processed"] - before)
            lease.ack()
        return min(counts)

    queue.set_worker_config(WorkerSettings("w1", assigned=["busy0", "busy1"]))
    fill(queue, "busy0", 10)
    fill(queue, "busy1", 10)
    small = commands_for_one_pop()
    idle = [f"idle{i}" for i in range(10_000)]
    queue.set_worker_config(WorkerSettings("w1", assigned=["busy0", "busy1", *idle]))
    large = commands_for_one_pop()
    assert large == small


def test_the_fairness_read_sums_each_tenants_wait_buckets_over_the_minutes(anyqueue, raw):
    """The wait percentiles of the Overview come from the per-minute buckets (wait_histograms,
    shared with /metrics): planted by hand over two minutes, read back summed."""
    from queueapp.engine.fairness import bucket_upper_ms

    keys = anyqueue.config.keys
    minute = int(raw.time()[0]) // 60
    for m, (user, bucket, n) in ((minute, ("a", 10, 3)), (minute - 1, ("a", 40, 1)), (minute, ("b", 20, 2))):
        raw.hincrby(keys.fair_wait(m), f"{user}:{bucket}", n)
        raw.zincrby(keys.fair_served(m), n, user)
        raw.zincrby(keys.fair_served(m), n, "*")
    grand, rows = anyqueue.fairness(minutes=5, users=["a", "b"])
    by_user = {r.user: r for r in rows}
    assert grand == 6 and by_user["a"].served == 4 and by_user["b"].served == 2
    assert by_user["a"].wait_p50_ms == bucket_upper_ms(10) and by_user["a"].wait_p95_ms == bucket_upper_ms(40)
    assert by_user["b"].wait_p95_ms == bucket_upper_ms(20)
