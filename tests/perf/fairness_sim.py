"""The fairness report's simulation (tests/perf/fairness_report.py): W virtual workers on a
logical clock driving a real FairQueue, and the figures read from what they ran."""

from __future__ import annotations

import heapq
import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from redis import Redis

from queueapp.engine import EngineConfig, FairQueue, Lease, Task

Factory = Callable[[str, str], FairQueue]  # (scenario, fairness mode) -> a queue of its own, empty


def queues(client: Redis, tag: str = "") -> Factory:
    """Queues on one client, each under a prefix of its own ({fair<tag>:...}); leases that never expire."""
    serial = itertools.count()

    def make(scenario: str, mode: str) -> FairQueue:
        prefix = "{fair" + tag + f":{scenario}:{mode}:{next(serial)}" + "}"
        return FairQueue(client, EngineConfig(prefix=prefix, fairness=mode, lease_seconds=86_400))

    return make


@dataclass(frozen=True, slots=True)
class Options:
    tasks: int = 100  # tasks per light tenant; every scenario scales with it
    workers: int = 4
    seed: int = 1


@dataclass(slots=True)
class Run:
    """One popped task, in logical ms."""

    user: str
    enqueued: float
    start: float
    duration: float
    backlogged: bool  # every backlogged tenant still had queued work when it was popped

    @property
    def end(self) -> float:
        return self.start + self.duration


class Sim:
    """W virtual workers on a logical clock (ms) against one FairQueue."""

    def __init__(self, queue: FairQueue, workers: int, backlogged: Iterable[str]) -> None:
        self.q, self.workers, self.backlogged = queue, workers, tuple(backlogged)
        self.now = 0.0
        self.end = 0.0  # the measurement window is [0, end]: until a backlogged tenant ran dry
        self.emptied: float | None = None
        self.queued: Counter[str] = Counter()
        self.runs: list[Run] = []
        self._arrivals: list[tuple[float, int, str, float]] = []  # (at, seq, user, duration)
        self._busy: list[tuple[float, int, Lease]] = []  # (logical completion, worker, lease)

    def push(self, user: str, durations: Sequence[float], subkeys: Sequence[str] | None = None) -> None:
        """Enqueue tasks for `user` now, each declaring its duration as its cost (and, with
        `subkeys`, the i-th task under subkeys[i % len(subkeys)])."""
        self.q.push_many(
            [
                Task(
                    "demo.noop",
                    args=[d, self.now],
                    user=user,
                    cost=d,
                    subkey=subkeys[i % len(subkeys)] if subkeys else None,
                )
                for i, d in enumerate(durations)
            ]
        )
        self.queued[user] += len(durations)

    def arrive(self, at: float, user: str, duration: float) -> None:
        """Push one task at logical time `at`."""
        heapq.heappush(self._arrivals, (at, len(self._arrivals), user, duration))

    def run(self, until: float = math.inf) -> Sim:
        """Advance event by event until nothing is left to do or the next event is after `until`."""
        free = list(range(self.workers))
        while True:
            while self._arrivals and self._arrivals[0][0] <= self.now:
                _, _, user, duration = heapq.heappop(self._arrivals)
                self.push(user, [duration])
            done: dict[int, Lease] = {}
            while self._busy and self._busy[0][0] <= self.now:
                _, w, lease = heapq.heappop(self._busy)
                done[w] = lease
            free = [w for w in sorted([*free, *done]) if self._serve(w, done.get(w)) is None]
            nxt = min(
                self._busy[0][0] if self._busy else math.inf, self._arrivals[0][0] if self._arrivals else math.inf
            )
            if nxt > until or nxt == math.inf:
                break
            self.now = nxt
        self.end = self.emptied if self.emptied is not None else min(until, self.now)
        return self

    def _serve(self, w: int, finished: Lease | None) -> Lease | None:
        """Worker w acks what it finished and, when anything is queued, pops its next task."""
        waiting = sum(self.queued.values())
        if not waiting:
            if finished is not None:
                finished.ack()
            return None
        lease = self.q.ack_and_pop(finished) if finished is not None else self.q.pop(f"w{w}")
        if lease is None:  # what is queued belongs to tenants held at a cap: the worker waits
            if not self._busy:
                raise RuntimeError(f"no task popped at {self.now} ms while {waiting} are queued")
            return None
        user, (duration, enqueued) = lease.task.user, lease.task.args
        full = all(self.queued[u] for u in self.backlogged)
        self.queued[user] -= 1
        if self.emptied is None and user in self.backlogged and not self.queued[user]:
            self.emptied = self.now
        self.runs.append(Run(user, enqueued, self.now, duration, full))
        heapq.heappush(self._busy, (self.now + duration, w, lease))
        return lease


# -- figures -----------------------------------------------------------------------------------
def shares(sim: Sim, weights: dict[str, float], by: str) -> dict[str, float]:
    """Each tenant's achieved share / fair (weight) share while all were backlogged: by 'count'
    (tasks popped) or 'time' (worker time inside the window)."""
    got: defaultdict[str, float] = defaultdict(float)
    for r in sim.runs:
        if by == "count":
            got[r.user] += 1 if r.backlogged else 0
        else:
            got[r.user] += max(0.0, min(r.end, sim.end) - r.start)
    total, wsum = sum(got[u] for u in weights), sum(weights.values())
    return {u: (got[u] / total) / (w / wsum) for u, w in weights.items()}


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, q in 0..100 (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def waits(sim: Sim, user: str) -> list[float]:
    return [r.start - r.enqueued for r in sim.runs if r.user == user]


def makespan_ratio(sim: Sim) -> float:
    """Makespan / ideal (total work spread over every worker)."""
    return max(r.end for r in sim.runs) / (sum(r.duration for r in sim.runs) / sim.workers)


def max_in_flight(sim: Sim, user: str) -> int:
    """Most of `user`'s tasks running at one logical instant (an end before a start at a tie)."""
    events = sorted(
        [(r.start, 1) for r in sim.runs if r.user == user] + [(r.end, -1) for r in sim.runs if r.user == user]
    )
    most = running = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


def busy_fraction(sim: Sim, until: float) -> float:
    """Worker time used inside [0, until] / what the workers had."""
    return sum(max(0.0, min(r.end, until) - r.start) for r in sim.runs) / (sim.workers * until)
