"""Pipelines built with >>, << and |, checked in memory (no Redis): the DAG they
make, a deterministic topological order and step names, and cycles refused."""

from __future__ import annotations

import pytest

from queueapp.workflows import BoundTask, CycleError, Pipeline, _step_names
from tests import workflow_tasks as wt


def names(p: Pipeline) -> list[str]:
    steps = p.order()
    got = _step_names(steps)
    return [got[id(s)] for s in steps]


def edges(p: Pipeline) -> set[tuple[str, str]]:
    label = {id(n): n.args[0] for n in p.nodes}
    return {(label[a], label[b]) for a, b in p.edges}


def test_rshift_lshift_and_groups_make_the_expected_edges():
    a, b, c, d = (wt.part.bind(x) for x in "abcd")
    assert edges(a >> b) == {("a", "b")}
    assert edges(b << a) == {("a", "b")}
    assert edges((a | b) >> c) == {("a", "c"), ("b", "c")}
    assert edges(a >> (b | c) >> d) == {("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")}
    assert edges([a, b] >> c) == {("a", "c"), ("b", "c")}
    assert edges(a >> [b, c]) == {("a", "b"), ("a", "c")}


def test_the_same_object_is_one_step():
    a, b, c = (wt.part.bind(x) for x in "abc")
    p = (a >> b) | (a >> c)
    assert len(p.nodes) == 3 and edges(p) == {("a", "b"), ("a", "c")}


def test_order_and_names_are_deterministic():
    for _ in range(20):
        parts = [wt.part.bind(str(i)) for i in range(6)]
        p = wt.extract.bind("s") >> Pipeline.of(parts) >> wt.merge.bind()
        assert names(p) == ["extract", "part", "part-2", "part-3", "part-4", "part-5", "part-6", "merge"]
        assert [s.args for s in p.order()[1:-1]] == [(str(i),) for i in range(6)]


def test_a_cycle_is_refused_naming_its_steps():
    a, b = wt.part.bind("a").named("first"), wt.part.bind("b").named("second")
    c = wt.merge.bind()
    with pytest.raises(CycleError, match="first.*second|second.*first"):
        (c >> a >> b >> a).order()


def test_named_steps_and_bad_operands():
    assert wt.part.bind("x").named("load-eu").step == "load-eu"
    with pytest.raises(TypeError, match="bound tasks"):
        wt.part.bind("x") >> 42
    assert isinstance(wt.part.bind("x"), BoundTask)


def test_groups_from_lists_on_either_side_and_clear_errors():
    from django.tasks.exceptions import InvalidTask

    a, b, c = (wt.part.bind(x) for x in "abc")
    assert edges(([a, b] | c) >> wt.part.bind("d")) == {("a", "d"), ("b", "d"), ("c", "d")}
    with pytest.raises(TypeError, match="bound tasks"):
        Pipeline.of({a, b})  # a set's order would decide the step names
    with pytest.raises(InvalidTask, match="at least one task"):
        Pipeline.of([]).enqueue(user="acme")
    with pytest.raises(InvalidTask, match="step name"):
        a.named("bad name")
