"""Task dependencies in the engine against real Redis: a task waits until every
dependency has succeeded, is released by the last dependency's ack (same call),
and is cancelled (or keeps blocking) when a dependency ends without success."""

from __future__ import annotations

import dataclasses
import time

import pytest

from queueapp.engine import InvalidState, InvalidTask, State, Task
from tests.processes import wait_for


def t(tid, user="acme", **kw):
    return Task("demo.noop", id=tid, user=user, **kw)


def run_one(q, worker="w1", fail=False):
    lease = q.pop(worker)
    assert lease is not None, "a task should be ready"
    if fail:
        lease.fail(RuntimeError("boom"), retry=False)
    else:
        lease.ack({"from": lease.id})
    return lease.id


def state(q, tid):
    task = q.get_task(tid)
    return task.state if task else None


def deps_keys(raw, prefix):
    return sorted(raw.scan_iter(f"{prefix}:deps:*")) + sorted(raw.scan_iter(f"{prefix}:waiting"))


def test_a_dependent_waits_then_runs_after_its_dependency_succeeds(anyqueue):
    anyqueue.push(t("a"))
    anyqueue.push(t("b", depends_on=("a",)))
    b = anyqueue.get_task("b")
    assert b.state == State.DEFERRED and b.waiting == 1 and b.depends_on == ("a",)
    assert anyqueue.tenant_stats("acme")["waiting"] == 1
    assert run_one(anyqueue) == "a"
    b = anyqueue.get_task("b")
    assert b.state == State.QUEUED and b.waiting == 0
    assert b.history[-1]["reason"] == "dependencies_met"
    assert anyqueue.tenant_stats("acme")["waiting"] == 0
    assert run_one(anyqueue) == "b"
    assert anyqueue.pop("w1") is None


def test_fan_in_runs_once_after_every_dependency(queue, raw, prefix):
    for tid in ("a", "b", "c"):
        queue.push(t(tid))
    queue.push(t("merge", depends_on=("a", "b", "c")))
    served = [run_one(queue) for _ in range(3)]
    assert sorted(served) == ["a", "b", "c"]
    assert run_one(queue) == "merge"
    assert queue.pop("w1") is None
    assert deps_keys(raw, prefix) == []


def test_release_happens_in_the_fused_ack_and_pop(queue):
    queue.push(t("a"))
    queue.push(t("b", depends_on=("a",)))
    lease = queue.pop("w1")
    nxt = queue.ack_and_pop(lease, 1)
    assert nxt is not None and nxt.id == "b"


def test_depending_on_an_unknown_id_is_refused_and_nothing_is_pushed(queue):
    with pytest.raises(InvalidTask, match="depends on 'nope'"):
        queue.push_many([t("x"), t("y", depends_on=("nope",))])
    assert queue.get_task("x") is None and queue.get_task("y") is None


def test_a_task_cannot_depend_on_itself(queue):
    with pytest.raises(InvalidTask, match="itself"):
        queue.push(t("self", depends_on=("self",)))


def test_a_succeeded_dependency_counts_as_met(queue):
    queue.push(t("a"))
    run_one(queue)
    queue.push(t("b", depends_on=("a",)))
    assert state(queue, "b") == State.QUEUED


def test_dead_dependency_cancels_dependents_in_cascade(queue, raw, prefix):
    queue.push(t("a", max_retries=0))
    queue.push(t("b", depends_on=("a",)))
    queue.push(t("c", depends_on=("b",)))
    run_one(queue, fail=True)
    assert state(queue, "a") == State.DEAD
    for tid in ("b", "c"):
        task = queue.get_task(tid)
        assert task.state == State.CANCELLED and task.dead_reason == "dependency_failed"
    assert queue.tenant_stats("acme")["waiting"] == 0
    assert deps_keys(raw, prefix) == []
    # a new task on a dead dependency is cancelled at once (cancel policy)
    queue.push(t("d", depends_on=("a",)))
    assert queue.get_task("d").dead_reason == "dependency_failed"


def test_block_policy_waits_for_the_requeue_and_then_runs(queue, raw, prefix):
    queue.push(t("a", max_retries=0))
    queue.push(t("b", depends_on=("a",), on_dependency_failure="block"))
    queue.push(t("c", depends_on=("b",)))
    run_one(queue, fail=True)
    assert state(queue, "b") == State.DEFERRED and state(queue, "c") == State.DEFERRED
    assert queue.dlq_requeue(["a"]) == (1, [])
    assert run_one(queue) == "a"
    assert run_one(queue) == "b"
    assert run_one(queue) == "c"
    assert deps_keys(raw, prefix) == []


def test_deleting_a_dead_dependency_cancels_even_blocking_dependents(queue, raw, prefix):
    queue.push(t("a", max_retries=0))
    queue.push(t("b", depends_on=("a",), on_dependency_failure="block"))
    run_one(queue, fail=True)
    assert queue.dlq_delete(["a"]) == (1, [])
    assert state(queue, "b") == State.CANCELLED
    assert deps_keys(raw, prefix) == []


def test_cancelling_a_waiting_task_unregisters_it_and_cancels_its_dependents(queue, raw, prefix):
    queue.push(t("a"))
    queue.push(t("b", depends_on=("a",)))
    queue.push(t("c", depends_on=("b",)))
    queue.cancel("b")
    assert state(queue, "b") == State.CANCELLED and state(queue, "c") == State.CANCELLED
    assert queue.get_task("b").dead_reason is None  # an operator's cancel
    assert queue.get_task("c").dead_reason == "dependency_failed"
    assert run_one(queue) == "a"
    assert queue.pop("w1") is None
    assert deps_keys(raw, prefix) == []
    with pytest.raises(InvalidState):
        queue.cancel("b")


def test_purge_dead_letters_waiting_tasks_and_leaves_no_dependency_keys(queue, raw, prefix):
    queue.push(t("x"))
    queue.push(t("w", depends_on=("x",), on_dependency_failure="block"))  # waits on a queued task
    queue.push(t("a"))
    queue.push(t("b", depends_on=("a",)))
    queue.push(t("c", depends_on=("b",), on_dependency_failure="block"))
    # a is dead-lettered, which cancels b (cancel policy), which cancels c (a cancelled task
    # cannot be requeued: blocking on it would be forever)
    assert queue.purge("acme", reason="tenant_deleted") == 3  # x and a from the lane, w from waiting
    assert [state(queue, x) for x in "abc"] == [State.DEAD, State.CANCELLED, State.CANCELLED]
    assert [state(queue, x) for x in "xw"] == [State.DEAD, State.DEAD]
    assert queue.tenant_stats("acme")["waiting"] == 0
    assert deps_keys(raw, prefix) == []


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_a_dependency_that_lost_its_flag_leaves_the_dependent_visible_and_cancellable(queue, raw, prefix):
    """A dependency whose record lost its 'dependents' flag (a partial restore): its ack
    releases nothing, and the dependent stays visible as waiting, to be cancelled (or
    released by repair_waiting, below)."""
    queue.push(t("a"))
    queue.push(t("b", depends_on=("a",)))
    raw.hdel(f"{prefix}:task:a", "dependents")
    run_one(queue)
    assert state(queue, "b") == State.DEFERRED
    assert queue.dependency_links("b") == (["a"], [])
    queue.cancel("b")
    assert state(queue, "b") == State.CANCELLED
    assert deps_keys(raw, prefix) == []


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_stats_waiting_gauge_matches_the_waiting_set(queue, raw, prefix):
    queue.push(t("a"))
    for i in range(5):
        queue.push(t(f"d{i}", depends_on=("a",)))
    assert queue.stats()["waiting"] == 5 == raw.zcard(f"{prefix}:waiting")
    run_one(queue)
    assert queue.stats()["waiting"] == 0 and queue.stats()["queued"] == 5


def test_a_tenants_big_pipeline_does_not_delay_another_tenants_tasks(queue):
    """Tenant A pushes a 200-task pipeline (a fan-out then a merge), tenant B 5 single
    tasks after it: B's tasks are served within the first pops, as without pipelines."""
    parts = [Task("demo.noop", id=f"p{i}", user="A") for i in range(200)]
    merge = Task("demo.noop", id="merge", user="A", depends_on=tuple(t.id for t in parts))
    queue.push_pipeline("run-a", "A", "fan", [*parts, merge])
    queue.push_many([Task("demo.noop", id=f"b{i}", user="B") for i in range(5)])
    served = [run_one(queue) for _ in range(10)]
    assert sorted(i for i in served if i.startswith("b")) == [f"b{i}" for i in range(5)]
    rest = []
    while (lease := queue.pop("w1")) is not None:
        rest.append(lease.id)
        lease.ack()
    assert rest[-1] == "merge" and len(rest) == 196
    run = queue.pipeline("run-a")
    assert run.finished and run.counts["succeeded"] == 201 and run.task_ids[-1] == "merge"


def test_a_pipeline_push_is_one_script_call_and_atomic(queue):
    tasks = [Task("demo.noop", id="s1", user="A"), Task("demo.noop", id="s2", user="A", depends_on=("nope",))]
    with pytest.raises(InvalidTask, match="no task"):
        queue.push_pipeline("run-x", "A", "", tasks)
    assert queue.get_task("s1") is None and queue.pipeline("run-x") is None


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_repair_waiting_releases_what_a_lost_flag_left_waiting(queue, raw, prefix):
    queue.push(t("a"))
    queue.push(t("b", depends_on=("a",)))
    queue.push(t("c", depends_on=("a", "b")))
    raw.hdel(f"{prefix}:task:a", "dependents")  # a partial restore lost the flag
    run_one(queue)
    assert state(queue, "b") == State.DEFERRED
    found = queue.repair_waiting(dry_run=True)
    assert (found.released, found.crossed_off, found.stale) == (1, 2, 0)
    assert state(queue, "b") == State.DEFERRED  # a dry run changes nothing
    fixed = queue.repair_waiting()
    assert fixed.released == 1 and fixed.crossed_off == 2
    assert state(queue, "b") == State.QUEUED and queue.get_task("c").waiting == 1
    assert run_one(queue) == "b" and run_one(queue) == "c"
    assert queue.repair_waiting().changed is False


def test_a_deferred_record_in_no_set_can_still_be_cancelled(queue, raw, prefix):
    queue.push(t("a"))
    queue.push(t("b", depends_on=("a",)))
    raw.zrem(f"{prefix}:waiting", "b")  # a hand edit dropped the index entry
    queue.cancel("b")
    assert state(queue, "b") == State.CANCELLED
    assert deps_keys(raw, prefix) == []


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_an_expired_pipeline_leaves_no_key_behind(make_queue, config, raw, prefix):
    """Result TTL expiry: a finished run's keys expire with its results, and the next reap
    takes it out of the indexes with its XCom; no dependency key is left at any point."""
    q = make_queue(dataclasses.replace(config, result_ttl=1, xcom_ttl=60))
    q.push_pipeline("run-ttl", "A", "", [t("x1", user="A"), t("x2", user="A", depends_on=("x1",))])
    q.xcom_push("A", "run-ttl", "k", 1)
    run_one(q)
    run_one(q)
    assert q.pipeline("run-ttl").finished and 0 < raw.ttl(f"{prefix}:pipe:run-ttl") <= 1
    assert deps_keys(raw, prefix) == []
    gone = (f"{prefix}:pipe:run-ttl", f"{prefix}:task:x1", f"{prefix}:task:x2")
    wait_for(lambda: not raw.exists(*gone), timeout=30, what="the run's keys to expire")
    wait_for(lambda: (q.reap(), q.pipelines())[1] == ([], 0), timeout=30, what="the reap to prune the index")
    assert q.pipelines(user="A") == ([], 0)
    left = sorted(k.removeprefix(prefix) for k in raw.scan_iter(f"{prefix}:*"))
    assert not [k for k in left if k.split(":")[1] in ("task", "deps", "waiting", "pipe", "pipes", "xcom")], left


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_block_waits_only_on_dead_letters_what_cannot_be_requeued_cancels(queue, raw, prefix):
    """A dependency that ends 'failed' (no DLQ) or is cancelled can never succeed: even a
    blocking dependent is cancelled, so nothing waits forever (its record would expire)."""
    queue.push(t("f", max_retries=0, dead_letter=False))
    queue.push(t("c", user="other"))
    queue.push(t("after-f", depends_on=("f",), on_dependency_failure="block"))
    queue.push(t("after-c", depends_on=("c",), on_dependency_failure="block"))
    queue.push(t("after-after", depends_on=("after-c",), on_dependency_failure="block"))
    lease = queue.pop("w1")
    while lease.id != "f":  # the tenants take turns: release c until f comes
        lease.release()
        lease = queue.pop("w1")
    lease.fail(RuntimeError("boom"), retry=False)  # f ends failed
    queue.cancel("c")
    assert [state(queue, x) for x in ("f", "after-f", "c", "after-c", "after-after")] == [
        State.FAILED,
        State.CANCELLED,
        State.CANCELLED,
        State.CANCELLED,
        State.CANCELLED,
    ]
    queue.push(t("late", depends_on=("f",), on_dependency_failure="block"))
    assert state(queue, "late") == State.CANCELLED
    assert deps_keys(raw, prefix) == [] and queue.stats()["waiting"] == 0


def test_a_tenant_named_like_an_index_cannot_break_the_reap(queue):
    """Review finding: pipes:<user> once met pipes:ending for a tenant named 'ending'."""
    queue.push_pipeline("run-e", "ending", "", [t("e1", user="ending")])
    run_one(queue)
    assert queue.pipeline("run-e").finished
    queue.reap()  # raised in Lua before
    queue.redis.zadd(queue.config.keys.pipelines_ending(), {"no-separator": 0})  # a hand edit
    queue.reap()
    assert queue.redis.zcard(queue.config.keys.pipelines_ending()) == 1  # the real run, not yet expired
    with pytest.raises(InvalidTask, match="run id"):
        queue.push_pipeline("a:b", "acme", "", [t("e2")])


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_a_purged_waiting_task_that_is_requeued_waits_again(queue, raw, prefix):
    queue.push(t("a", user="other"))
    queue.push(t("b", depends_on=("a",)))
    queue.purge("acme", reason="purged")
    assert state(queue, "b") == State.DEAD
    assert queue.dlq_requeue(["b"]) == (1, [])
    b = queue.get_task("b")
    assert b.state == State.DEFERRED and b.waiting == 1 and queue.stats()["waiting"] == 1
    assert run_one(queue) == "a"
    assert run_one(queue) == "b"
    assert deps_keys(raw, prefix) == []


def test_repair_and_a_hand_cancelled_record_leave_no_key_and_no_negative_gauge(queue, raw, prefix):
    queue.push(t("a"))
    queue.push(t("b", depends_on=("a",)))
    raw.hdel(f"{prefix}:task:a", "dependents")
    run_one(queue)
    queue.repair_waiting()
    assert not raw.exists(f"{prefix}:deps:blocked:a")
    queue.push(t("c", run_after=int(time.time() * 1000) + 60_000))
    raw.zrem(f"{prefix}:delayed", "c")  # a deferred record in no set
    queue.cancel("c")
    assert queue.stats()["waiting"] == 0 and queue.stats()["delayed"] >= 0
