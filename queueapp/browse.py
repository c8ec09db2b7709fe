"""The read side of the Tasks and Pipelines pages: tasks across tenants from the
queue's own indexes (never a keyspace scan), filtered by tenant, state, priority
and task path, and pipeline runs with their steps. No HTTP, no templates."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from . import conf
from .engine import State
from .engine import Task as EngineTask
from .engine.workflows import TENANT_SCOPE, PipelineRun

EXAMINE_LIMIT = 5000  # records looked at for one Tasks page (the page says so when it is reached)
TENANTS_WALKED = 200  # tenants whose lanes or recent lists one page reads, without a tenant filter
BATCH = 500
# the state filter -> the indexes holding such tasks ("queued" and "recent" are per tenant)
SOURCES = {
    "": ("running", "queued", "delayed", "waiting", "dead", "recent"),
    State.QUEUED: ("queued",),
    State.DEFERRED: ("delayed", "waiting"),
    State.RUNNING: ("running",),
    State.SUCCEEDED: ("recent",),
    State.FAILED: ("recent",),
    State.CANCELLED: ("recent",),
    State.DEAD: ("dead",),
}
STATES = [s.value for s in State]


@dataclass
class TaskFilter:
    user: str = ""
    state: str = ""
    priority: str = ""
    func: str = ""

    def __post_init__(self) -> None:
        self.state = self.state if self.state in STATES else ""
        self.priority = self.priority if self.priority in {str(i) for i in range(1, 7)} else ""

    def matches(self, task: EngineTask) -> bool:
        return (
            (not self.user or task.user == self.user)
            and (not self.state or task.state == self.state)
            and (not self.priority or task.priority == int(self.priority))
            and (not self.func or self.func in task.func)
        )

    def query(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}


@dataclass
class TaskPage:
    items: list[EngineTask]
    total: int  # matches found among the examined records
    offset: int
    limit: int
    examined: int
    capped: bool  # EXAMINE_LIMIT reached: there may be more

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.items) < self.total


def _candidate_ids(f: TaskFilter, budget: int) -> list[str]:
    queue = conf.get_queue()
    users = [f.user] if f.user else None
    ids: list[str] = []
    for index in SOURCES[f.state]:
        if len(ids) >= budget:
            break
        if index in ("queued", "recent"):
            walk = users or queue.tenants_by("backlog" if index == "queued" else "seen", TENANTS_WALKED)
            for user in walk:
                ids += queue.index_ids(index, user, min(budget - len(ids), BATCH))
                if len(ids) >= budget:
                    break
        else:
            dlq_of = f.user or None if index == "dead" else None  # the DLQ has a per-tenant index
            ids += queue.index_ids(index, dlq_of, budget - len(ids))
    return list(dict.fromkeys(ids))[:budget]


def task_page(f: TaskFilter, offset: int = 0, limit: int = 50) -> TaskPage:
    """Matching tasks, running first, then queued, deferred, dead and recently finished."""
    ids = _candidate_ids(f, EXAMINE_LIMIT)
    queue = conf.get_queue()
    found: list[EngineTask] = []
    for i in range(0, len(ids), BATCH):
        found += [t for t in queue.tasks(ids[i : i + BATCH]) if f.matches(t)]
    return TaskPage(found[offset : offset + limit], len(found), offset, limit, len(ids), len(ids) >= EXAMINE_LIMIT)


# -- pipelines -----------------------------------------------------------------------------
@dataclass
class Step:
    name: str
    task: EngineTask | None  # None: its record expired
    task_id: str
    after: list[str] = field(default_factory=list)  # step names it depends on


@dataclass
class RunDetail:
    run: PipelineRun
    steps: list[Step]
    states: dict[str, int]  # current state -> how many steps
    xcom: dict[str, str]  # key -> JSON text


def pipeline_page(user: str = "", offset: int = 0, limit: int = 50):
    runs, total = conf.get_queue().pipelines(offset, limit, user or None)
    return runs, total


def run_detail(run_id: str) -> RunDetail | None:
    queue = conf.get_queue()
    run = queue.pipeline(run_id)
    if run is None:
        return None
    by_id = {t.id: t for t in queue.tasks(run.task_ids)}
    names = {task_id: step for step, task_id in run.steps.items()}
    steps, states = [], {}
    for task_id in run.task_ids:
        task = by_id.get(task_id)
        after = [names.get(d, d) for d in task.depends_on] if task else []
        steps.append(Step(names.get(task_id, task_id), task, task_id, after))
        state = str(task.state) if task and task.state else "expired"
        states[state] = states.get(state, 0) + 1
    return RunDetail(run, steps, states, _xcom_texts(run.user, run.id))


def _xcom_texts(user: str, ns: str) -> dict[str, str]:
    """A namespace's XCom values as JSON text, for the pages."""
    return {k: json.dumps(v, ensure_ascii=False) for k, v in conf.get_queue().xcom_values(user, ns).items()}


@dataclass
class Links:
    # (task id, its state, its step name in the run): unmet ones, every dependency, dependents
    waits_on: list[tuple[str, str | None, str | None]]
    depends_on: list[tuple[str, str | None, str | None]]
    blocks: list[tuple[str, str | None, str | None]]
    xcom: dict[str, str]  # key -> JSON text
    xcom_scope: str


def task_links(task: EngineTask) -> Links:
    queue = conf.get_queue()
    waits, blocks = queue.dependency_links(task.id)
    states = queue.task_states([*task.depends_on, *blocks])
    run = queue.pipeline(task.pipeline) if task.pipeline else None
    steps = {task_id: step for step, task_id in run.steps.items()} if run else {}
    return Links(
        waits_on=[(i, states.get(i), steps.get(i)) for i in waits],
        depends_on=[(i, states.get(i), steps.get(i)) for i in task.depends_on],
        blocks=[(i, states.get(i), steps.get(i)) for i in blocks],
        xcom=_xcom_texts(task.user, task.pipeline or TENANT_SCOPE) if task.user else {},
        xcom_scope="this pipeline run" if task.pipeline else "the tenant",
    )
