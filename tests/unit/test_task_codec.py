"""Task.push_doc validation, new_task_id, and Task.from_fields on hashes as Redis stores them."""

from __future__ import annotations

import json
import math
import re
import time

import pytest

from queueapp.engine.errors import InvalidTask
from queueapp.engine.task import Priority, State, Task, new_task_id

LIMITS = {"max_payload": 65_536, "result_ttl": 86_400}


def doc(**kwargs):
    kwargs.setdefault("func", "app.tasks.send")
    return Task(**kwargs).push_doc(**LIMITS)


def test_push_doc_defaults():
    task = Task(func="app.tasks.send", args=[1, "x"], kwargs={"k": None}, user="acme", id="t-1")
    d = task.push_doc(max_payload=1000, result_ttl=99, max_retries=7, max_deliveries=4)
    # every value a string (push.lua copies them into the hash); defaults omitted
    assert d == {
        "v": "1",
        "id": "t-1",
        "func": "app.tasks.send",
        "user": "acme",
        "priority": "3",
        "payload": '{"args":[1,"x"],"kwargs":{"k":null}}',
        "max_retries": "7",
        "max_deliveries": "4",
        "result_ttl": "99",
    }


def test_push_doc_task_settings_win_over_config():
    d = doc(
        max_retries=0,
        max_deliveries=0,
        result_ttl=5,
        timeout=2,
        run_after=123,
        dead_letter=False,
        args=("a",),
        queue="mail",
    )
    assert (d["max_retries"], d["max_deliveries"], d["result_ttl"]) == ("0", "1", "5")
    assert d["timeout"] == "2.0"
    assert (d["run_after"], d["dead_letter"], d["queue"]) == ("123", "0", "mail")
    assert json.loads(d["payload"])["args"] == ["a"]


@pytest.mark.parametrize("value", ["a", "A-z_0.9:x@y+z=w", "x" * 128, "01HZX"])
@pytest.mark.parametrize("field", ["id", "user"])
def test_valid_names(field, value):
    assert doc(**{field: value})[field] == value


@pytest.mark.parametrize("value", ["", "x" * 129, "a b", "a/b", "é", "a\tb", "a\n\nb", 7, None])
@pytest.mark.parametrize("field", ["id", "user"])
def test_invalid_names(field, value):
    with pytest.raises(InvalidTask, match="is not valid"):
        doc(**{field: value})


def test_trailing_newline_in_name_is_refused():
    with pytest.raises(InvalidTask):
        doc(user="acme\n")


@pytest.mark.parametrize("func", ["", None, 3, "f" * 201])
def test_invalid_func(func):
    with pytest.raises(InvalidTask, match="func"):
        doc(func=func)
    assert doc(func="f" * 200)["func"] == "f" * 200


@pytest.mark.parametrize(
    ("priority", "expected"),
    [
        (Priority.VERY_LOW, 1),
        (Priority.HIGH, 4),
        (Priority.CRITICAL, 6),
        (1, 1),
        (3, 3),
        (6, 6),
    ],
)
def test_priority_accepted(priority, expected):
    assert doc(priority=priority)["priority"] == str(expected)


@pytest.mark.parametrize("priority", [0, 7, -1, True, False, 3.0, "3", None])
def test_priority_rejected(priority):
    with pytest.raises(InvalidTask, match="priority"):
        doc(priority=priority)


@pytest.mark.parametrize("field", ["max_retries", "max_deliveries"])
@pytest.mark.parametrize("value", [-1, True, 1.5, "2"])
def test_retry_counts_must_be_non_negative_ints(field, value):
    with pytest.raises(InvalidTask, match=field):
        doc(**{field: value})


def test_config_retry_default_is_validated_too():
    with pytest.raises(InvalidTask, match="max_retries") as err:
        Task(func="f").push_doc(**LIMITS, max_retries=-1)
    assert isinstance(err.value, ValueError)


def test_payload_limit_counts_utf8_bytes_and_is_inclusive():
    task = Task(func="f", args=["é" * 10])
    text = '{"args":["' + "é" * 10 + '"],"kwargs":{}}'
    size = len(text.encode())
    assert task.push_doc(max_payload=size, result_ttl=1)["payload"] == text
    with pytest.raises(InvalidTask, match=f"is {size} bytes, over the {size - 1}-byte limit"):
        task.push_doc(max_payload=size - 1, result_ttl=1)
    with pytest.raises(InvalidTask):
        task.push_doc(max_payload=len(text), result_ttl=1)  # chars, not bytes


@pytest.mark.parametrize(
    ("args", "kwargs", "where"),
    [
        ([object()], {}, "argument['args'][0] is a object"),
        ([1, [2, {3, 4}]], {}, "argument['args'][1][1] is a set"),
        ([], {"when": {"at": time}}, "argument['kwargs']['when']['at'] is a module"),
        ([b"raw"], {}, "argument['args'][0] is a bytes"),
    ],
)
def test_non_json_arguments_name_their_path(args, kwargs, where):
    with pytest.raises(InvalidTask) as err:
        doc(args=args, kwargs=kwargs)
    assert str(err.value).startswith(where)


@pytest.mark.parametrize(
    ("kwargs", "where"),
    [
        ({"a": {1: "x"}}, "argument['kwargs']['a'] has key 1"),
        ({"a": [{None: 1}]}, "argument['kwargs']['a'][0] has key None"),
    ],
)
def test_dict_keys_must_be_strings(kwargs, where):
    with pytest.raises(InvalidTask, match="keys must be strings") as err:
        doc(kwargs=kwargs)
    assert str(err.value).startswith(where)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused(value):
    with pytest.raises(InvalidTask, match=r"argument\['args'\]\[1\] is .*NaN and infinity"):
        doc(args=[1.5, value])


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ({"a": 1}, {}),
        ("abc", {}),
        ([], [("a", 1)]),
        ([], None),
    ],
)
def test_args_must_be_a_list_and_kwargs_a_dict(args, kwargs):
    with pytest.raises(InvalidTask, match="must be a"):
        doc(args=args, kwargs=kwargs)


def test_new_task_id_format_and_strict_order():
    before = time.time_ns() // 1_000_000
    ids = [new_task_id() for _ in range(10_000)]
    after = time.time_ns() // 1_000_000
    assert all(re.fullmatch(r"[0-9a-f]{28}", i) for i in ids)
    assert all(a < b for a, b in zip(ids, ids[1:], strict=False))
    assert before <= int(ids[0][:12], 16) <= int(ids[-1][:12], 16) <= after + 1
    assert ids[-1] < Task(func="f").id < Task(func="f").id  # the default id


# -- from_fields --------------------------------------------------------------
HISTORY = '{"at":1,"state":"queued"},{"at":2,"state":"running","worker":"w1"}'


def stored(**over: str) -> dict[str, str]:
    """A task hash as HGETALL returns it (every value a string)."""
    f = {
        "v": "1",
        "id": "t1",
        "func": "app.f",
        "user": "acme",
        "priority": "4",
        "queue": "q",
        "payload": '{"args":[1,2.50,"x"],"kwargs":{"n":12345678901234567890}}',
        "max_retries": "2",
        "max_deliveries": "5",
        "dead_letter": "1",
        "result_ttl": "60",
        "timeout": "2.5",
        "run_after": "1700000000000",
        "state": "running",
        "enqueued_at": "1700000000001",
        "started_at": "1700000000002",
        "lease_deadline": "1700000030002",
        "deliveries": "2",
        "failures": "1",
        "worker": "w2",
        "lease_token": "abcd",
        "score": "1699999820001",
        "history": HISTORY,
        "history_n": "2",
        "error": '{"type":"builtins.ValueError","message":"boom","traceback":""}',
        "errors": '{"message":"one"},{"message":"two"}',
        "errors_n": "2",
    }
    f.update(over)
    return {k: v for k, v in f.items() if v is not None}


def test_from_fields_full_record():
    t = Task.from_fields(stored())
    assert (t.id, t.func, t.user, t.priority, t.queue) == ("t1", "app.f", "acme", 4, "q")
    assert t.args == [1, 2.5, "x"] and t.kwargs == {"n": 12345678901234567890}
    assert t.payload == stored()["payload"]  # kept byte-identical for requeues
    assert (t.max_retries, t.max_deliveries, t.dead_letter, t.result_ttl) == (2, 5, True, 60)
    assert (t.timeout, t.run_after, t.state) == (2.5, 1_700_000_000_000, State.RUNNING)
    assert (t.enqueued_at, t.started_at) == (1_700_000_000_001, 1_700_000_000_002)
    assert t.finished_at is None
    assert (t.lease_deadline, t.deliveries, t.failures) == (1_700_000_030_002, 2, 1)
    assert (t.worker, t.lease_token) == ("w2", "abcd")
    assert t.history == [{"at": 1, "state": "queued"}, {"at": 2, "state": "running", "worker": "w1"}]
    assert t.error == {"type": "builtins.ValueError", "message": "boom", "traceback": ""}
    assert t.errors == [{"message": "one"}, {"message": "two"}]
    assert t.worker_ids == ["w1"]


def test_from_fields_minimal_record_defaults():
    t = Task.from_fields({"id": "t", "func": "f", "user": "u", "priority": "6", "payload": '{"args":[],"kwargs":{}}'})
    assert (t.queue, t.max_retries, t.max_deliveries, t.dead_letter) == ("default", 0, 3, True)
    assert (t.state, t.timeout, t.run_after, t.result_ttl, t.error) == (None,) * 5
    assert (t.history, t.errors, t.worker_ids, t.return_value) == ([], [], [], None)
    assert (t.deliveries, t.failures) == (0, 0)


def test_from_fields_empty_strings_mean_absent():
    t = Task.from_fields(stored(timeout="", run_after="", history="", errors="", error="", state=""))
    assert (t.timeout, t.run_after, t.error, t.state) == (None, None, None, None)
    assert (t.history, t.errors) == ([], [])


def test_worker_ids_lists_every_delivery_in_order():
    history = (
        HISTORY + ',{"at":3,"state":"queued","reason":"lease_expired"},'
        '{"at":4,"state":"running","worker":"w9"},{"at":5,"state":"running"}'
    )
    assert Task.from_fields(stored(history=history)).worker_ids == ["w1", "w9"]


@pytest.mark.parametrize(
    ("result", "value"),
    [
        ('{"ok":[1,2]}', {"ok": [1, 2]}),
        ("null", None),
        ("3.25", 3.25),
        ('"s"', "s"),
        (None, None),
    ],
)
def test_return_value(result, value):
    t = Task.from_fields(stored(state="succeeded", result=result))
    assert t.result == result and t.return_value == value


@pytest.mark.parametrize(("flag", "expected"), [("0", False), ("1", True), (None, True)])
def test_dead_letter_flag(flag, expected):
    assert Task.from_fields(stored(dead_letter=flag)).dead_letter is expected


def test_push_doc_round_trips_through_stored_fields():
    """push.lua stores the string values as they are."""
    task = Task(
        func="m.f",
        args=[1, {"a": [None, True]}],
        kwargs={"z": "é"},
        user="u",
        id="rt",
        priority=Priority.VERY_HIGH,
        timeout=1.5,
        run_after=10,
        dead_letter=False,
    )
    d = task.push_doc(**LIMITS)

    assert all(isinstance(v, str) for v in d.values())
    back = Task.from_fields(d)
    for name in (
        "id",
        "func",
        "user",
        "priority",
        "args",
        "kwargs",
        "timeout",
        "run_after",
        "dead_letter",
        "max_retries",
        "max_deliveries",
        "result_ttl",
        "queue",
    ):
        expected = getattr(task, name) if getattr(task, name) is not None else int(d[name])
        assert getattr(back, name) == expected, name


@pytest.mark.parametrize("missing", ["payload", "func", "user", "priority", "id"])
def test_missing_required_field_raises_key_error(missing):
    fields = stored()
    del fields[missing]
    with pytest.raises(KeyError, match=missing):
        Task.from_fields(fields)


@pytest.mark.parametrize(
    "over",
    [
        {"payload": "not json"},
        {"payload": "[1]"},
        {"payload": "null"},
        {"payload": '{"args":{},"kwargs":{}}'},
        {"priority": "high"},
        {"state": "bogus"},
        {"deliveries": "1.5"},
    ],
)
def test_malformed_fields_raise_value_error(over):
    with pytest.raises(ValueError):
        Task.from_fields(stored(**over))


@pytest.mark.parametrize(("field", "attr"), [("history", "history"), ("error", "error"), ("errors", "errors")])
def test_history_and_errors_are_decoded_on_first_use(field, attr):
    """The worker's hot path never pays for them; a broken one fails only when read."""
    task = Task.from_fields({**stored(), field: '{"at":1'})
    with pytest.raises(ValueError):
        getattr(task, attr)
