"""The fault tests' harness (reliability-anchors section 6): drain, then a
total-queue check against the external ledger, and the tally line each test
prints:  T10 tally: enqueued=500 succeeded=500 dead=0 lost=0 duplicates=2

lost       = acknowledged enqueues - tasks in a terminal state (succeeded or dead)
duplicates = executions beyond the first, summed over tasks (from the ledger)
one commit = each task's history holds exactly one terminal transition
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field

from queueapp.engine import FairQueue, State
from tests.processes import wait_for

TERMINAL = {State.SUCCEEDED.value, State.DEAD.value, State.FAILED.value}


@dataclass
class Tally:
    name: str
    enqueued: int
    succeeded: int
    dead: int
    lost: int
    duplicates: int
    commits: Counter = field(default_factory=Counter)  # task id -> terminal transitions in its history
    states: Counter = field(default_factory=Counter)

    @property
    def line(self) -> str:
        return (
            f"{self.name} tally: enqueued={self.enqueued} succeeded={self.succeeded} dead={self.dead} "
            f"lost={self.lost} duplicates={self.duplicates}"
        )

    def not_one_commit(self) -> dict[str, int]:
        return {i: n for i, n in self.commits.items() if n != 1}


def note(name: str, what: str) -> None:
    """What a test injected, printed (pytest -s shows it; -rA keeps it in the report)."""
    print(f"{name} inject: {what}", flush=True)


def drain(queue: FairQueue, timeout: float = 90.0) -> None:
    """Wait until nothing is queued, deferred or running."""

    def empty():
        s = queue.stats()
        return s.get("queued", 0) == 0 and s.get("running", 0) == 0 and s.get("delayed", 0) == 0

    wait_for(empty, timeout=timeout, interval=0.1, what="the queue to drain")


def terminal_commits(task) -> int:
    return sum(1 for h in task.history if h.get("state") in TERMINAL)


@dataclass
class Fields:
    """The ASCII fields of a record that get_task cannot decode."""

    state: State
    dead_reason: str | None
    history: list[dict]


def undecodable(queue: FairQueue, task_id: str) -> Fields | None:
    state, reason, history = queue.redis.hmget(
        f"{queue.config.prefix}:task:{task_id}", "state", "dead_reason", "history"
    )
    if state is None:
        return None
    return Fields(State(state), reason, json.loads(f"[{history or ''}]"))


def tally(name: str, queue: FairQueue, ids: list[str], runs: dict[str, int] | None = None) -> Tally:
    """Count terminal states of `ids` (acknowledged enqueues) and duplicate executions.
    `runs` maps a task id to its executions in the ledger."""
    states: Counter = Counter()
    commits: Counter = Counter()
    for task_id in ids:
        try:
            task = queue.get_task(task_id)
        except UnicodeDecodeError:  # a field that is not UTF-8 (planted bytes): read the plain ones
            task = undecodable(queue, task_id)
        if task is None:  # get_task answers None for a record it cannot turn into a Task, too
            task = undecodable(queue, task_id)
        if task is None:
            states["missing"] += 1
            continue
        states[task.state.value] += 1
        commits[task_id] = terminal_commits(task)
    succeeded = states[State.SUCCEEDED.value]
    dead = states[State.DEAD.value] + states[State.FAILED.value]
    duplicates = sum(max(0, n - 1) for n in (runs or {}).values())
    result = Tally(name, len(ids), succeeded, dead, len(ids) - succeeded - dead, duplicates, commits, states)
    print(result.line, flush=True)
    return result


class Ledger:
    """Reads what tests.fault_tasks wrote under `key`."""

    def __init__(self, raw, key: str) -> None:
        self.raw, self.key = raw, key

    def runs(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.raw.hgetall(f"{self.key}:runs").items()}

    def overlaps(self) -> list[str]:
        return self.raw.lrange(f"{self.key}:overlaps", 0, -1)

    def starts(self) -> list[tuple[str, int, float]]:
        return [tuple(json.loads(x)) for x in self.raw.lrange(f"{self.key}:starts", 0, -1)]

    def execs(self) -> list[tuple[str, int, float, float]]:
        return [tuple(json.loads(x)) for x in self.raw.lrange(f"{self.key}:execs", 0, -1)]


class Stopwatch:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self.t0
