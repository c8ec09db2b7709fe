"""Broken records planted in Redis are dead-lettered with a reason; the caller
never crashes and the other tasks keep flowing."""

from __future__ import annotations

import dataclasses

import pytest

from queueapp.engine import State, Task


def plant(q, raw, prefix, mutate, user="acme"):
    """Push a good task, then damage its stored record with mutate(key)."""
    task_id = q.push(Task("demo.noop", user=user)).id
    mutate(raw, f"{prefix}:task:{task_id}")
    return task_id


CASES = {
    "payload not JSON": (lambda r, k: r.hset(k, "payload", "{not json"), "decode_error"),
    "payload truncated": (lambda r, k: r.hset(k, "payload", '{"args":[1,2'), "decode_error"),
    "payload pickle bytes": (lambda r, k: r.hset(k, "payload", "\x80\x04\x95"), "decode_error"),
    "no func": (lambda r, k: r.hdel(k, "func"), "malformed"),
    "no payload": (lambda r, k: r.hdel(k, "payload"), "malformed"),
    "priority garbage": (lambda r, k: r.hset(k, "priority", "high"), "malformed"),
    "priority out of range": (lambda r, k: r.hset(k, "priority", "9"), "malformed"),
}


@pytest.mark.one_shard("reads or plants its queue's keys by name")
@pytest.mark.parametrize("case", CASES)
def test_malformed_record_is_dead_lettered_and_pop_goes_on(queue, raw, prefix, case):
    mutate, reason = CASES[case]
    bad = plant(queue, raw, prefix, mutate)
    good = queue.push(Task("demo.noop", user="acme")).id
    lease = queue.pop("w1")
    assert lease.id == good
    task_state = raw.hget(f"{prefix}:task:{bad}", "state")
    assert task_state == "dead"
    assert raw.hget(f"{prefix}:task:{bad}", "dead_reason") == reason
    assert raw.zscore(f"{prefix}:dlq", bad) is not None
    stats = queue.stats()
    assert (stats["queued"], stats["running"], stats["dead"]) == (0, 1, 1)


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_oversized_record_planted_in_redis_is_dead_lettered(make_queue, config, raw, prefix):
    q = make_queue(dataclasses.replace(config, max_payload_bytes=100))
    bad = plant(q, raw, prefix, lambda r, k: r.hset(k, "payload", '{"args":["' + "x" * 500 + '"]}'))
    assert q.pop("w1") is None
    assert raw.hget(f"{prefix}:task:{bad}", "dead_reason") == "oversized"


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_record_deleted_under_the_queue_is_dead_lettered_as_missing(queue, raw, prefix):
    """A lane entry whose record is gone is not dropped: a stub (id, tenant) goes to the DLQ."""
    bad = plant(queue, raw, prefix, lambda r, k: r.delete(k))
    good = queue.push(Task("demo.noop", user="acme")).id
    assert queue.pop("w1").id == good
    stats = queue.stats()
    assert (stats["missing"], stats["queued"], stats["dead"]) == (1, 0, 1)
    stub = raw.hgetall(f"{prefix}:task:{bad}")
    assert stub["state"] == "dead" and stub["dead_reason"] == "missing" and stub["user"] == "acme"
    assert raw.zscore(f"{prefix}:dlq", bad) is not None and raw.zscore(f"{prefix}:dlq:acme", bad) is not None
    assert queue.dlq_requeue([bad]) == (0, [bad])  # nothing to run: it stays a dead letter
    assert queue.dlq_delete([bad])[0] == 1 and queue.stats()["dead"] == 0


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_record_without_state_is_dead_lettered_as_malformed(anyqueue, raw, prefix):
    """Issue 10, item 5: it was counted `missing` and silently dropped, its hash left behind."""
    bad = plant(anyqueue, raw, prefix, lambda r, k: r.hdel(k, "state"))
    good = anyqueue.push(Task("demo.noop", user="acme")).id
    assert anyqueue.pop("w1").id == good
    assert anyqueue.pop("w1") is None
    record = raw.hgetall(f"{prefix}:task:{bad}")
    assert record["state"] == "dead" and record["dead_reason"] == "malformed"
    dead = anyqueue.dead_letters()
    assert [t.id for t in dead.items] == [bad] and dead.items[0].dead_reason == "malformed"
    assert [t.id for t in anyqueue.dead_letters(user="acme").items] == [bad]
    stats = anyqueue.stats()
    assert (stats["queued"], stats["running"], stats["dead"], stats["missing"]) == (0, 1, 1, 0)
    assert raw.zscore(f"{prefix}:backlog", "acme") is None
    # the rest of the record is intact: requeued, it runs like any other task
    assert anyqueue.dlq_requeue([bad])[0] == 1
    assert anyqueue.pop("w1").id == bad


@pytest.mark.one_shard("reads or plants its queue's keys by name")
@pytest.mark.parametrize("lane", ["crit", "norm"])
def test_purge_dead_letters_lane_entries_without_a_usable_record(queue, raw, prefix, lane):
    prio = 6 if lane == "crit" else 3
    gone = queue.push(Task("demo.noop", user="acme", priority=prio)).id
    stateless = queue.push(Task("demo.noop", user="acme", priority=prio)).id
    good = queue.push(Task("demo.noop", user="acme", priority=prio)).id
    raw.delete(f"{prefix}:task:{gone}")
    raw.hdel(f"{prefix}:task:{stateless}", "state")
    assert queue.purge("acme") == 3
    reasons = {i: raw.hget(f"{prefix}:task:{i}", "dead_reason") for i in (gone, stateless, good)}
    assert reasons == {gone: "missing", stateless: "malformed", good: "purged"}
    stats = queue.stats()
    assert (stats["queued"], stats["dead"]) == (0, 3)
    assert raw.zscore(f"{prefix}:backlog", "acme") is None


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_record_python_cannot_decode_is_dead_lettered_by_the_client(queue, raw, prefix):
    """Lua accepts the payload (an array is a table to cjson) but Python cannot use it."""
    bad = plant(queue, raw, prefix, lambda r, k: r.hset(k, "payload", "[1, 2]"))
    good = queue.push(Task("demo.noop", user="acme")).id
    lease = queue.pop("w1")
    assert lease.id == good
    task = raw.hgetall(f"{prefix}:task:{bad}")
    assert task["state"] == State.DEAD and task["dead_reason"] == "decode_error"


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_a_queue_of_only_broken_records_returns_none(queue, raw, prefix):
    for _ in range(40):  # more than one pop's skip budget
        plant(queue, raw, prefix, lambda r, k: r.hset(k, "payload", "garbage"))
    seen = 0
    while queue.stats()["queued"]:
        assert queue.pop("w1") is None
        seen += 1
        assert seen < 5
    assert queue.dead_letters().total == 40


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_cancel_refuses_a_queued_record_that_names_no_lane(queue, raw, prefix):
    """Without user or priority the record's lane is unknown: a clear refusal, not a Lua error."""
    from queueapp.engine import InvalidState

    task_id = queue.push(Task("demo.noop", user="acme")).id
    raw.hdel(f"{prefix}:task:{task_id}", "user")
    with pytest.raises(InvalidState, match="unreadable"):
        queue.cancel(task_id)
    assert queue.pop("w1") is None  # and the pop dead-letters it with its reason
    assert raw.hget(f"{prefix}:task:{task_id}", "dead_reason") in ("malformed", "missing")
