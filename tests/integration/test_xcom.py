"""XCom values through the engine and the seed-style helpers: scope, TTL, size limit
and clear errors for what cannot be stored."""

from __future__ import annotations

import dataclasses
import time

import pytest
from django.tasks.exceptions import InvalidTask as DjangoInvalidTask

from queueapp.engine import InvalidTask, Task
from queueapp.xcom import running_task, xcom_pull, xcom_push


def test_values_are_scoped_by_tenant_and_namespace(queue):
    queue.xcom_push("acme", "run1", "k", {"a": [1, 2.5, None]})
    assert queue.xcom_pull("acme", "run1", "k") == (True, {"a": [1, 2.5, None]})
    assert queue.xcom_pull("acme", "run2", "k") == (False, None)
    assert queue.xcom_pull("globex", "run1", "k") == (False, None)
    assert queue.xcom_values("acme", "run1") == {"k": {"a": [1, 2.5, None]}}


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_a_value_expires_after_its_ttl_even_when_its_namespace_lives_on(queue):
    queue.xcom_push("acme", "-", "short", 1, ttl=1)
    queue.xcom_push("acme", "-", "long", 2, ttl=60)
    time.sleep(1.2)
    assert queue.xcom_pull("acme", "-", "short") == (False, None)
    assert queue.xcom_values("acme", "-") == {"long": 2}
    assert queue.redis.ttl(queue.config.keys.xcom("-", "acme")) > 50


def test_too_large_non_json_and_bad_keys_are_clear_errors(make_queue, config):
    q = make_queue(dataclasses.replace(config, xcom_max_bytes=100))
    with pytest.raises(InvalidTask, match="limit is 100"):
        q.xcom_push("acme", "-", "big", "x" * 200)
    with pytest.raises(InvalidTask, match="is a set"):
        q.xcom_push("acme", "-", "k", {1, 2})
    with pytest.raises(InvalidTask, match="NaN"):
        q.xcom_push("acme", "-", "k", float("nan"))
    with pytest.raises(InvalidTask, match="XCom key"):
        q.xcom_push("acme", "-", "a:b", 1)
    assert q.xcom_values("acme", "-") == {}


def test_a_hand_edited_value_reads_as_missing(queue, raw):
    key = queue.config.keys.xcom("-", "acme")
    raw.hset(key, mapping={"broken": "not-a-deadline|1", "bad-json": "99999999999999|{nope"})
    assert queue.xcom_pull("acme", "-", "broken") == (False, None)
    assert queue.xcom_values("acme", "-") == {}


def test_helpers_take_the_running_tasks_tenant_and_run(fq_settings, queue):
    with pytest.raises(RuntimeError, match="outside a running task"):
        xcom_push("k", 1)
    token = running_task.set(Task("demo.noop", user="acme", pipeline="run9"))
    try:
        xcom_push("k", [1])
        assert xcom_pull("k") == [1] and xcom_pull("missing", default="d") == "d"
        with pytest.raises(DjangoInvalidTask, match="is a set"):
            xcom_push("bad", {1})
    finally:
        running_task.reset(token)
    assert queue.xcom_values("acme", "run9") == {"k": [1]}
    assert xcom_pull("k", user="acme", pipeline="run9") == [1]


def test_xcom_task_stores_the_return_value_below_or_above_task(fq_settings, queue, monkeypatch, redis_url):
    monkeypatch.setenv("REDIS_URL", redis_url)  # the ledger of tests.fixture_tasks
    from tests import workflow_tasks as wt

    token = running_task.set(Task("demo.noop", user="acme"))
    try:
        assert wt.extract.call("src") == ["src:0", "src:1", "src:2"]
        assert xcom_pull("rows") == ["src:0", "src:1", "src:2"]
        assert wt.summarize.call(3) == {"n": 3} and xcom_pull("summary") == {"n": 3}
        assert wt.summarize.module_path == "tests.workflow_tasks.summarize"
    finally:
        running_task.reset(token)


@pytest.mark.parametrize("ttl", ["abc", 0, -5, 1e30, True, 10**9])
def test_a_bad_ttl_is_a_clear_error(queue, ttl):
    with pytest.raises(InvalidTask, match="ttl must be"):
        queue.xcom_push("acme", "-", "k", 1, ttl=ttl)
