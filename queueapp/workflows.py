"""Pipelines: bound tasks joined with ``>>`` (after), ``<<`` (before) and ``|``
(in parallel), checked in memory and pushed in one atomic script call.

    run = (extract.bind("s3://in") >> (transform.bind() | audit.bind()) >> load.bind()).enqueue(user="acme")
    run.refresh().finished

A node is a BoundTask *object*: using the same object twice in an expression
means the same step (that is how a cycle can be written, and is refused).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.tasks import TaskResult
from django.tasks.exceptions import InvalidTask

from . import conf
from .engine import Task as EngineTask
from .engine import new_task_id
from .engine.task import check_name
from .engine.workflows import PipelineRun
from .task_errors import InvalidTaskArguments, _as_invalid_task


def dependency_ids(values) -> tuple[str, ...]:
    """Task ids from ids, TaskResults (anything with .id) or one of either."""
    if isinstance(values, str) or hasattr(values, "id"):
        values = [values]
    try:
        return tuple(v if isinstance(v, str) else v.id for v in values)
    except (TypeError, AttributeError) as exc:
        raise InvalidTask(f"depends_on takes task ids or TaskResults, got {values!r}") from exc


class CycleError(InvalidTask):
    """The pipeline's steps depend on each other in a circle: nothing was enqueued."""


class BoundTask:
    """A task with its arguments and options, not yet enqueued: ``task.bind(*args, **kwargs)``."""

    __slots__ = ("task", "args", "kwargs", "step")

    def __init__(self, task, args: tuple, kwargs: dict, step: str | None = None) -> None:
        self.task, self.args, self.kwargs, self.step = task, tuple(args), dict(kwargs), step

    def named(self, step: str) -> BoundTask:
        """The same call under a step name of your choice (default: the function's name)."""
        with _as_invalid_task():
            return BoundTask(self.task, self.args, self.kwargs, check_name("step name", step))

    def using(self, **options) -> BoundTask:
        return BoundTask(self.task.using(**options), self.args, self.kwargs, self.step)

    def enqueue(self, depends_on: Iterable = ()) -> TaskResult:
        """Enqueue this one call, after `depends_on` (ids or TaskResults) have succeeded."""
        task = self.task.using(depends_on=dependency_ids(depends_on)) if depends_on else self.task
        return task.enqueue(*self.args, **self.kwargs)

    def __rshift__(self, other) -> Pipeline:
        return Pipeline.of(self) >> other

    def __lshift__(self, other) -> Pipeline:
        return Pipeline.of(self) << other

    def __or__(self, other) -> Pipeline:
        return Pipeline.of(self) | other

    def __ror__(self, other) -> Pipeline:  # [a, b] | c
        return Pipeline.of(other) | self

    def __rrshift__(self, other) -> Pipeline:  # [a, b] >> c
        return Pipeline.of(other) >> self

    def __rlshift__(self, other) -> Pipeline:  # [a, b] << c
        return Pipeline.of(other) << self

    def __repr__(self) -> str:
        return f"<BoundTask {self.step or self.task.name}>"


class Pipeline:
    """A DAG of bound tasks. ``x >> y``: every last step of x before every first step of y."""

    def __init__(self, nodes: list[BoundTask], edges: set[tuple[int, int]]) -> None:
        self.nodes = nodes  # in the order they were written
        self.edges = edges  # (id(before), id(after))

    @classmethod
    def of(cls, value) -> Pipeline:
        if isinstance(value, Pipeline):
            return value
        if isinstance(value, BoundTask):
            return cls([value], set())
        if isinstance(value, (list, tuple)):  # a parallel group (not a set: its order would name the steps)
            out = cls([], set())
            for item in value:
                out = out | item
            return out
        raise TypeError(f"a pipeline is built from bound tasks (task.bind(...)), got {value!r}")

    def _merged(self, other: Pipeline, edges: Iterable[tuple[int, int]] = ()) -> Pipeline:
        known = {id(n) for n in self.nodes}
        nodes = self.nodes + [n for n in other.nodes if id(n) not in known]
        return Pipeline(nodes, self.edges | other.edges | set(edges))

    def _ends(self, outgoing: bool) -> list[BoundTask]:
        linked = {e[0] if outgoing else e[1] for e in self.edges}
        return [n for n in self.nodes if id(n) not in linked]

    def __rshift__(self, other) -> Pipeline:
        other = Pipeline.of(other)
        return self._merged(other, [(id(a), id(b)) for a in self._ends(True) for b in other._ends(False)])

    def __lshift__(self, other) -> Pipeline:
        return Pipeline.of(other) >> self

    def __rrshift__(self, other) -> Pipeline:
        return Pipeline.of(other) >> self

    def __rlshift__(self, other) -> Pipeline:
        return self >> Pipeline.of(other)

    def __or__(self, other) -> Pipeline:
        return self._merged(Pipeline.of(other))

    __ror__ = __or__

    def _ordered_edges(self) -> list[tuple[int, int]]:
        """The edges in the order their steps were written (a set's order would make the
        topological order, and so the step names, differ between runs)."""
        position = {id(n): i for i, n in enumerate(self.nodes)}
        return sorted(self.edges, key=lambda e: (position[e[0]], position[e[1]]))

    def order(self) -> list[BoundTask]:
        """The steps in topological order (Kahn); a cycle raises CycleError naming its steps."""
        by_id = {id(n): n for n in self.nodes}
        before: dict[int, set[int]] = {i: set() for i in by_id}
        after: dict[int, list[int]] = {i: [] for i in by_id}
        for a, b in self._ordered_edges():
            before[b].add(a)
            after[a].append(b)
        ready = [i for i in by_id if not before[i]]
        out: list[BoundTask] = []
        while ready:
            i = ready.pop(0)
            out.append(by_id[i])
            for j in after[i]:
                before[j].discard(i)
                if not before[j]:
                    ready.append(j)
        if len(out) < len(by_id):
            stuck = [_label(n) for n in self.nodes if before[id(n)]]
            raise CycleError(f"the pipeline has a cycle through {', '.join(stuck)}: nothing was enqueued")
        return out

    def enqueue(self, user: str | None = None, name: str = "") -> PipelineResult:
        """Push every step in one atomic call. All steps run for one tenant: `user`, or the
        tenant their tasks were declared for (which must then agree)."""
        plan = self._plan(user)
        with _as_invalid_task():
            conf.get_queue().push_pipeline(plan.run, plan.user, name, plan.engine_tasks)
        return plan.result()

    async def aenqueue(self, user: str | None = None, name: str = "") -> PipelineResult:
        """enqueue() from async code (redis.asyncio): the same single atomic call."""
        plan = self._plan(user)
        with _as_invalid_task():
            await conf.get_async_queue().push_pipeline(plan.run, plan.user, name, plan.engine_tasks)
        return plan.result()

    def _plan(self, user: str | None) -> _Plan:
        steps = self.order()
        if not steps:
            raise InvalidTask("a pipeline needs at least one task: nothing was enqueued")
        users = {getattr(s.task, "user", "default") for s in steps}
        if user is None:
            if len(users) > 1:
                raise InvalidTask(
                    f"a pipeline's tasks belong to one tenant, these name {sorted(users)}: pass enqueue(user=...)"
                )
            user = users.pop()
        backends = {s.task.backend for s in steps}
        if len(backends) > 1:
            raise InvalidTask(f"a pipeline runs on one task backend, these use {sorted(backends)}")
        backend = steps[0].task.get_backend()
        if not hasattr(backend, "_engine_fields"):  # the FairQueue backend (not imported: it imports this)
            raise InvalidTask(f"pipelines need the FairQueue backend, {backends.pop()!r} is {type(backend).__name__}")
        names = _step_names(steps)
        ids = {id(s): new_task_id() for s in steps}
        deps: dict[int, list[str]] = {id(s): [] for s in steps}
        for a, b in self._ordered_edges():
            deps[b].append(ids[a])
        plan = _Plan(new_task_id(), user, backend)
        for s in steps:
            task = s.task.using(user=user)
            fields = backend._engine_fields(task)
            extra = tuple(fields.pop("depends_on", ()))
            plan.add(
                names[id(s)],
                task,
                EngineTask(
                    args=list(s.args),
                    kwargs=dict(s.kwargs),
                    id=ids[id(s)],
                    depends_on=tuple(deps[id(s)]) + extra,
                    pipeline=plan.run,
                    step=names[id(s)],
                    **fields,
                ),
            )
        return plan

    def __repr__(self) -> str:
        return f"<Pipeline {len(self.nodes)} steps, {len(self.edges)} edges>"


@dataclass
class _Plan:
    """One run being built: its id, tenant, and each step's task and engine task."""

    run: str
    user: str
    backend: object
    steps: list[tuple[str, object, EngineTask]] = field(default_factory=list)

    def add(self, name: str, task, engine_task: EngineTask) -> None:
        self.steps.append((name, task, engine_task))

    @property
    def engine_tasks(self) -> list[EngineTask]:
        return [e for _, _, e in self.steps]

    def result(self) -> PipelineResult:
        ready = self.backend._ready_result  # type: ignore[attr-defined]
        return PipelineResult(
            self.run, self.user, {name: ready(task, e.id, e.args, e.kwargs) for name, task, e in self.steps}
        )


@dataclass
class PipelineResult:
    """What enqueue returns: the run id and each step's TaskResult."""

    id: str
    user: str
    results: dict[str, TaskResult]

    def __getitem__(self, step: str) -> TaskResult:
        return self.results[step]

    def refresh(self) -> PipelineRun:
        """The run as stored now (counts, finished); raises LookupError once it expired."""
        run = conf.get_queue().pipeline(self.id)
        if run is None:
            raise LookupError(f"pipeline run {self.id!r} is gone (finished and expired)")
        return run

    def cancel(self) -> int:
        """Cancel every step that has not started; returns how many."""
        with _as_invalid_task():
            return conf.get_queue().cancel_pipeline(self.id)


def _label(node: BoundTask) -> str:
    return node.step or node.task.name


def _step_names(steps: list[BoundTask]) -> dict[int, str]:
    """Each step's name: its own, else the function's, made unique with -2, -3 ..."""
    taken: dict[str, int] = {}
    out = {}
    for s in steps:
        base = s.step or s.task.name
        taken[base] = taken.get(base, 0) + 1
        out[id(s)] = base if taken[base] == 1 else f"{base}-{taken[base]}"
    if len(set(out.values())) < len(out):
        raise InvalidTaskArguments("two steps end up with the same name: name them with .named(...)")
    return out
