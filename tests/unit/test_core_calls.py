"""Core builds Calls and parses replies without I/O; plans are driven by hand here,
the way FairQueue._run does: send each yielded Call's parsed reply back."""

from __future__ import annotations

import json
import re

import pytest

from queueapp.engine.backoff import RetryPolicy
from queueapp.engine.call import Call
from queueapp.engine.config import EngineConfig
from queueapp.engine.core import MAX_BROKEN_PER_POP, Core
from queueapp.engine.errors import ConfigError, InvalidState, InvalidTask, StaleLease, TaskNotFound
from queueapp.engine.lease import FailOutcome, Lease, PushResult
from queueapp.engine.settings import TenantSettings, WorkerSettings
from queueapp.engine.task import State, Task

OWNER = object()
OK = [
    "ok",
    "id",
    "x",
    "func",
    "f",
    "user",
    "u",
    "priority",
    "3",
    "payload",
    '{"args":[],"kwargs":{}}',
    "state",
    "running",
]
BROKEN = ["ok", "id", "bad", "func", "f", "user", "u", "priority", "3", "payload", "not json"]


@pytest.fixture
def core() -> Core:
    no_jitter = type("NoJitter", (), {"random": lambda self: 0.0})()
    return Core(EngineConfig(prefix="{t}"), owner=OWNER, rng=no_jitter)


def params(call: Call) -> dict:
    assert len(call.args) == 1
    return json.loads(call.args[0])


def lease(task_id: str = "x", failures: int = 0) -> Lease:
    return Lease(Task(func="f", id=task_id, failures=failures), "tok", "w1")


# -- push ---------------------------------------------------------------------
def test_push_calls_chunk_by_batch_chunk(core):
    tasks = [Task(func="f", id=f"t{i}") for i in range(1200)]
    calls = core.push_calls(tasks)
    assert [len(params(c)["tasks"]) for c in calls] == [500, 500, 200]
    assert all(c.script == "push" and c.keys == ("{t}",) for c in calls)
    first = params(calls[0])
    assert first["aging_ms"] == 60_000
    assert first["tasks"][0] == tasks[0].push_doc(max_payload=65_536, result_ttl=86_400)
    assert [d["id"] for c in calls for d in params(c)["tasks"]] == [t.id for t in tasks]


@pytest.mark.parametrize(("n", "chunk", "sizes"), [(0, 500, []), (5, 2, [2, 2, 1]), (3, 3, [3])])
def test_push_chunk_sizes(n, chunk, sizes):
    core = Core(EngineConfig(prefix="{t}", batch_chunk=chunk))
    calls = core.push_calls(Task(func="f") for _ in range(n))
    assert [len(params(c)["tasks"]) for c in calls] == sizes


def test_push_uses_config_defaults_and_validates_all_before_building():
    core = Core(EngineConfig(prefix="{t}", max_retries=9, max_deliveries=4, result_ttl=7))
    (call,) = core.push_calls([Task(func="f")])
    sent = params(call)["tasks"][0]
    assert (sent["max_retries"], sent["max_deliveries"], sent["result_ttl"]) == ("9", "4", "7")
    with pytest.raises(InvalidTask):
        core.push_calls([Task(func="f"), Task(func="f", priority=9)])


def test_push_reply_maps_to_push_results(core):
    (call,) = core.push_calls([Task(func="f", id="a"), Task(func="f", id="b")])
    assert call.parse(["created", "duplicate"]) == [PushResult("a", True), PushResult("b", False)]
    with pytest.raises(ValueError):
        call.parse(["created"])  # a short reply is an error, not a silent truncation


# -- pop ----------------------------------------------------------------------
def drive(plan, replies):
    """Run a plan on canned raw replies; returns (the Calls it yielded, its result)."""
    calls = [next(plan)]
    try:
        for reply in replies:
            calls.append(plan.send(calls[-1].parse(reply)))
    except StopIteration as done:
        return calls, done.value
    raise AssertionError(f"plan still running after {[c.script for c in calls]}")


@pytest.mark.parametrize("status", ["empty", "disabled"])
def test_pop_finds_nothing(core, status):
    calls, result = drive(core.pop("w1", None), [[status]])
    assert ([c.script for c in calls], result) == (["pop"], None)


def test_pop_call_params(core):
    call = core.pop_call("w1", lease_seconds=5)
    p = params(call)
    assert (call.script, call.keys) == ("pop", ("{t}",))
    assert (p["worker"], p["lease_ms"], p["max_payload"]) == ("w1", 5000, 65_536)
    assert re.fullmatch(r"[0-9a-f]{16}", p["token"])
    assert params(core.pop_call("w1", None))["lease_ms"] == 30_000
    assert params(core.pop_call("w1", None))["token"] != p["token"]
    with pytest.raises(InvalidTask, match="worker id"):
        core.pop_call("no spaces", None)


def test_pop_returns_a_lease(core):
    (call,), got = drive(core.pop("w1", None), [OK])
    assert isinstance(got, Lease)
    assert (got.id, got.task.func, got.task.user, got.task.priority) == ("x", "f", "u", 3)
    assert got.task.state is State.RUNNING
    assert (got.token, got.worker, got.queue) == (params(call)["token"], "w1", OWNER)


@pytest.mark.parametrize("payload", ["not json", "[1]", '{"args":5}'])
def test_pop_dead_letters_a_broken_record_and_pops_again(core, payload):
    replies = [[*BROKEN[:-1], payload], ["dead", "decode_error"], OK]
    (first, fail, again), got = drive(core.pop("w1", None), replies)
    p = params(fail)
    assert (fail.script, fail.keys, again.script) == ("fail", ("{t}",), "pop")
    assert (p["id"], p["token"], p["retry"], p["reason"], p["retry_delay_ms"]) == (
        "bad",
        params(first)["token"],
        False,
        "decode_error",
        0,
    )
    assert json.loads(p["error"])["message"]  # the decode error is kept for the operator
    assert got.id == "x"


def test_pop_gives_up_after_max_broken(core):
    """Every broken record it popped is failed; it stops after MAX_BROKEN_PER_POP pops."""
    n = MAX_BROKEN_PER_POP
    replies = [r for _ in range(n) for r in (BROKEN, ["dead", "decode_error"])]
    calls, result = drive(core.pop("w1", None), replies)
    assert [c.script for c in calls] == ["pop", "fail"] * n
    assert result is None


def test_pop_keeps_a_good_task_found_by_the_last_retry(core):
    n = MAX_BROKEN_PER_POP
    replies = [r for _ in range(n - 1) for r in (BROKEN, ["dead", "decode_error"])] + [OK]
    assert isinstance(drive(core.pop("w1", None), replies)[1], Lease)


# -- ack / ack_and_pop / fail / release ---------------------------------------
@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (["stale"], StaleLease),
        (["not_found"], TaskNotFound),
        (["weird"], InvalidState),
    ],
)
def test_ack_errors(core, reply, error):
    call = core.ack_call(lease(), None)
    with pytest.raises(error, match="ack x"):
        call.parse(reply)


def test_ack_call(core):
    call = core.ack_call(lease(), {"n": [1, 2.5]})
    assert call.script == "ack"
    assert params(call) == {"id": "x", "token": "tok", "result": '{"n":[1,2.5]}'}
    assert call.parse(["ok"]) is None
    with pytest.raises(InvalidTask, match="result"):
        core.ack_call(lease(), object())


def test_ack_and_pop(core):
    (call,), got = drive(core.ack_and_pop(lease(), 5, None), [["ok", *OK]])
    p = params(call)
    assert (call.script, p["ack"]["result"], p["pop"]["worker"]) == ("ack_and_pop", "5", "w1")
    assert got.id == "x" and got.token == p["pop"]["token"]
    with pytest.raises(StaleLease):
        call.parse(["stale", "empty"])


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (["retry", "123"], FailOutcome("retry", "error", 123)),
        (["dead", "max_retries"], FailOutcome("dead", "max_retries")),
        (["failed", "timeout"], FailOutcome("failed", "timeout")),
    ],
)
def test_fail_outcomes(core, reply, outcome):
    assert core.fail_call(lease(), ValueError("boom")).parse(reply) == outcome


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (["stale"], StaleLease),
        (["not_found"], TaskNotFound),
    ],
)
def test_fail_errors(core, reply, error):
    with pytest.raises(error):
        core.fail_call(lease(), None).parse(reply)


@pytest.mark.parametrize(("failures", "delay_ms"), [(0, 1000), (1, 2000), (3, 8000)])
def test_fail_call_params(core, failures, delay_ms):
    p = params(core.fail_call(lease(failures=failures), ValueError("boom"), reason="timeout"))
    assert (p["id"], p["token"], p["retry"], p["reason"], p["retry_delay_ms"]) == (
        "x",
        "tok",
        True,
        "timeout",
        delay_ms,
    )
    error = json.loads(p["error"])
    assert (error["type"], error["message"]) == ("builtins.ValueError", "boom")


def test_release_call(core):
    call = next(core.release(lease()))
    assert (call.script, params(call)) == ("release", {"id": "x", "token": "tok"})
    assert call.parse(["ok"]) is None
    with pytest.raises(StaleLease):
        call.parse(["stale"])


def test_heartbeat_and_maintenance_parsers(core):
    hb = core.heartbeat_call("w1", [], None, None)
    assert params(hb)["leases"] == {} and "info" not in params(hb)  # {}: cjson's empty array
    assert hb.parse(["ok", "a", "b"]) == ["a", "b"]
    assert next(core.reap(None)).parse(["3", "1"]) == (3, 1)
    assert params(next(core.reap(None)))["limit"] == 200 and params(next(core.reap(7)))["limit"] == 7
    assert next(core.promote(None)).parse(5) == 5
    assert core.dlq_requeue_call(["a", "b"]).parse([1, "b"]) == (1, ["b"])
    assert params(core.dlq_delete_call([]))["ids"] == {}


@pytest.mark.parametrize(
    ("reply", "error", "match"),
    [
        (["invalid_state", "running"], InvalidState, "task t1 is running"),
        (["not_found"], TaskNotFound, "cancel t1"),
    ],
)
def test_cancel_errors(core, reply, error, match):
    with pytest.raises(error, match=match):
        next(core.cancel("t1")).parse(reply)
    assert next(core.cancel("t1")).parse(["ok"]) is None


# -- configuration ------------------------------------------------------------
def test_worker_settings_params(core):
    settings = WorkerSettings("w1", assigned=["b", "a", "a"], steal=["c"], steal_all=True, concurrency=4)
    (call,) = next(core.set_worker_configs([settings], ()))
    p = params(call)
    assert call.script == "set_worker_config"
    fields = ("assigned", "steal", "steal_all", "enabled", "concurrency")
    assert [p[f] for f in fields] == [["a", "b"], ["c"], True, True, 4]
    assert "poll_interval" not in p and "lease_seconds" not in p  # unset: the runworker options apply
    bare = params(next(core.set_worker_configs([WorkerSettings("w1", enabled=False)], ()))[0])
    assert [bare[f] for f in fields[:4]] == [{}, {}, False, False]


def test_worker_settings_round_trip_through_the_stored_fields():
    settings = WorkerSettings("w1", ("a",), ("b",), steal_all=True, poll_interval=0.2, lease_seconds=30)
    stored = {
        "assigned": '["a"]',
        "steal": '["b"]',
        "steal_all": "1",
        "enabled": "1",
        "poll_interval": "0.20000000000000001",
        "lease_seconds": "30",
    }
    assert WorkerSettings.from_fields("w1", stored) == settings
    assert WorkerSettings.from_fields("w1", {"assigned": "{}", "steal": "{}"}) == WorkerSettings("w1")  # cjson's {}


def test_worker_settings_reject_a_tenant_both_assigned_and_stolen():
    with pytest.raises(ConfigError, match=r"\['b'\] cannot be both"):
        WorkerSettings("w1", assigned=["a", "b"], steal=["b"])
    with pytest.raises(InvalidTask):
        WorkerSettings("w1", assigned=["*"])  # the wildcard is steal_all, not a tenant


@pytest.mark.parametrize(
    ("weight", "ok"),
    [
        (0, False),
        (0.5, False),
        (1001, False),
        (1, True),
        (1000, True),
    ],
)
def test_tenant_weight_bounds(core, weight, ok):
    if ok:
        (call,) = next(core.set_tenants([TenantSettings("u", weight)], ()))
        assert params(call)["weight"] == weight
    else:
        with pytest.raises(ConfigError, match="between 1 and 1000"):
            TenantSettings("u", weight)


@pytest.mark.parametrize("prefix", ["fq", "{a}{b}", "{a", "a}", "{}", "", "{a}}", "{{a}"])
def test_prefix_needs_exactly_one_hash_tag(prefix):
    with pytest.raises(ValueError, match="hash tag"):
        EngineConfig(prefix=prefix)


def test_from_mapping():
    cfg = EngineConfig.from_mapping(
        {"PREFIX": "{x}", "LEASE_SECONDS": 5, "aging_seconds": 0.5, "RETRY": {"BASE": 2, "cap": 10}, "UNKNOWN": 1}
    )
    assert (cfg.prefix, cfg.lease_ms, cfg.aging_ms) == ("{x}", 5000, 500)
    assert cfg.retry == RetryPolicy(base=2, cap=10)
    policy = RetryPolicy(jitter=0)
    assert EngineConfig.from_mapping({"retry": policy}).retry is policy
    with pytest.raises(ValueError):
        EngineConfig.from_mapping({"LEASE_SECONDS": 0})
    assert EngineConfig(prefix="app:{fq}:v2").keys.task("1") == "app:{fq}:v2:task:1"
