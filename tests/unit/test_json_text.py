"""The engine's one JSON encoder (task.py _dumps) writes exactly what json.dumps with the same
options writes, and refuses what it refuses, failed encodes leaving nothing behind."""

from __future__ import annotations

import json
import math
from enum import IntEnum, StrEnum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from queueapp.engine.errors import InvalidTask
from queueapp.engine.task import Task, _dumps, encode_json


def reference(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class Level(IntEnum):
    HIGH = 4


class Colour(StrEnum):
    RED = "red"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_same_text_as_json_dumps(value):
    assert _dumps(value) == encode_json(value, "v") == reference(value)


@pytest.mark.parametrize(
    "value",
    ['é\n"\\\u2028', -0.0, 1e300, 10**30, (1, 2), [Level.HIGH, Colour.RED], {"k": (True, None)}, ""],
)
def test_same_text_for_edge_values(value):
    assert _dumps(value) == reference(value)


def test_payload_text_matches_json_dumps():
    task = Task(func="f", args=[1, "é", [2.5]], kwargs={"a": {"b": None}})
    payload = task.push_doc(max_payload=1000, result_ttl=1)["payload"]
    assert payload == reference({"args": [1, "é", [2.5]], "kwargs": {"a": {"b": None}}})


def test_a_failed_encode_leaves_no_state_behind():
    shared = [1, 2]
    with pytest.raises(InvalidTask):
        encode_json([shared, {1, 2}], "v")
    with pytest.raises(TypeError):
        _dumps([shared, object()])  # bypassing the check: json's own error
    with pytest.raises(ValueError, match="Out of range float"):
        _dumps([shared, math.nan])
    assert _dumps([shared, shared]) == "[[1,2],[1,2]]"  # the same list twice is not a cycle
