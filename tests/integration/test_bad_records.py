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


def test_oversized_record_planted_in_redis_is_dead_lettered(make_queue, config, raw, prefix):
    q = make_queue(dataclasses.replace(config, max_payload_bytes=100))
    bad = plant(q, raw, prefix, lambda r, k: r.hset(k, "payload", '{"args":["' + "x" * 500 + '"]}'))
    assert q.pop("w1") is None
    assert raw.hget(f"{prefix}:task:{bad}", "dead_reason") == "oversized"


def test_record_deleted_under_the_queue_is_skipped_and_counted(queue, raw, prefix):
    bad = plant(queue, raw, prefix, lambda r, k: r.delete(k))
    good = queue.push(Task("demo.noop", user="acme")).id
    assert queue.pop("w1").id == good
    stats = queue.stats()
    assert stats["missing"] == 1 and stats["queued"] == 0
    assert queue.get_task(bad) is None


def test_record_python_cannot_decode_is_dead_lettered_by_the_client(queue, raw, prefix):
    """Lua accepts the payload (an array is a table to cjson) but Python cannot use it."""
    bad = plant(queue, raw, prefix, lambda r, k: r.hset(k, "payload", "[1, 2]"))
    good = queue.push(Task("demo.noop", user="acme")).id
    lease = queue.pop("w1")
    assert lease.id == good
    task = raw.hgetall(f"{prefix}:task:{bad}")
    assert task["state"] == State.DEAD and task["dead_reason"] == "decode_error"


def test_a_queue_of_only_broken_records_returns_none(queue, raw, prefix):
    for _ in range(40):  # more than one pop's skip budget
        plant(queue, raw, prefix, lambda r, k: r.hset(k, "payload", "garbage"))
    seen = 0
    while queue.stats()["queued"]:
        assert queue.pop("w1") is None
        seen += 1
        assert seen < 5
    assert queue.dead_letters().total == 40
