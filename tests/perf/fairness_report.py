"""Fairness report: `python -m tests.perf.fairness_report [--tasks N] [--workers W] [--seed S] [--write]`
(`make fairness`). A discrete-event simulation on a logical clock drives the real engine on a private
Redis (how: INTRO below); prints one table, and with --write docs/fairness.md and docs/fairness.png.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import math
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from redis import Redis

from queueapp.engine import EngineConfig, FairQueue, Lease, RedisOptions, Task, connect
from queueapp.engine.settings import TenantSettings
from tests.perf.harness import bench_redis

Factory = Callable[[str, str], FairQueue]  # (scenario, fairness mode) -> a queue of its own, empty
Figures = dict[str, float]
DURATION = 100.0  # ms: the equal task duration of skew and weights
DOCS = Path(__file__).resolve().parents[2] / "docs"


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

    def push(self, user: str, durations: Sequence[float]) -> None:
        """Enqueue tasks for `user` now, each declaring its duration as its cost."""
        self.q.push_many([Task("demo.noop", args=[d, self.now], user=user, cost=d) for d in durations])
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
        if lease is None:
            raise RuntimeError(f"no task popped at {self.now} ms while {waiting} are queued")
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


# -- scenarios: each (make, options) -> figures --------------------------------------------------
def skew(make: Factory, o: Options) -> Figures:
    """One tenant with 100x the tasks of 9 others, equal durations, count mode, run to the end."""
    users = ["big", *(f"small-{i}" for i in range(1, 10))]
    sim = Sim(make("skew", "count"), o.workers, users)
    sim.push("big", [DURATION] * (100 * o.tasks))
    for user in users[1:]:
        sim.push(user, [DURATION] * o.tasks)
    sim.run()
    fair = shares(sim, dict.fromkeys(users, 1.0), "count")
    return {
        "worst": min(fair.values()),
        "small_p95": max(pct(waits(sim, u), 95) for u in users[1:]) / 1000,
        "big_p95": pct(waits(sim, "big"), 95) / 1000,
        "makespan": makespan_ratio(sim),
        **{f"share:count:{u}": v for u, v in fair.items()},
    }


TRICKLE_GAP = 500.0  # ms between two of the quiet tenant's tasks
HEAVY_MAX = 150.0  # heavy durations are uniform in 50..150 ms


def trickle(make: Factory, o: Options) -> Figures:
    """3 heavy backlogged tenants (50-150 ms tasks) and a quiet one adding a 100 ms task every 500 ms."""
    rng = random.Random(o.seed)
    heavy = [f"heavy-{i}" for i in (1, 2, 3)]
    sim = Sim(make("trickle", "count"), o.workers, heavy)
    window = o.tasks * TRICKLE_GAP
    for user in heavy:  # together, enough for the whole window even at 50 ms a task
        sim.push(user, [float(rng.randint(50, int(HEAVY_MAX))) for _ in range(int(o.workers * window / 150) + 1)])
    for k in range(o.tasks):
        sim.arrive(TRICKLE_GAP * (k + 1) - rng.random() * TRICKLE_GAP / 2, "quiet", DURATION)
    sim.run(until=window + TRICKLE_GAP)
    quiet = waits(sim, "quiet")
    return {
        "p50": pct(quiet, 50),
        "p95": pct(quiet, 95),
        "max": max(quiet),
        "heavy_p50": pct([w for u in heavy for w in waits(sim, u)], 50) / 1000,
        "backlogged": float(sim.emptied is None),
    }


def mixed(make: Factory, o: Options) -> Figures:
    """Tenant A: 2,000 ms tasks, B: 2 ms tasks, both backlogged, equal weights; count then time mode."""
    window = o.tasks * 300.0
    out: Figures = {}
    for mode in ("count", "time"):
        sim = Sim(make("mixed", mode), o.workers, ["A", "B"])
        for user, duration in (("A", 2000.0), ("B", 2.0)):  # enough to keep every worker busy
            sim.push(user, [duration] * (int(o.workers * window / duration) + o.workers))
        sim.run(until=window)
        fair = shares(sim, {"A": 1.0, "B": 1.0}, "time")
        out[f"{mode}_dev"] = max(abs(v - 1) for v in fair.values())
        out[f"{mode}_b"] = fair["B"] / 2
        out.update({f"share:{mode}:{u}": v for u, v in fair.items()})
    return out


def weights(make: Factory, o: Options) -> Figures:
    """Tenants weighted 1:2:5 with equal 100 ms tasks (weight x N each): count mode, then time mode."""
    w = {"w1": 1.0, "w2": 2.0, "w5": 5.0}
    out: Figures = {}
    for mode in ("count", "time"):
        q = make("weights", mode)
        q.set_tenants([TenantSettings(u, weight=x) for u, x in w.items()])
        sim = Sim(q, o.workers, w)
        for user, x in w.items():
            sim.push(user, [DURATION] * int(x * o.tasks))
        sim.run()
        fair = shares(sim, w, mode)
        out[f"{mode}_worst"] = min(fair.values())
        out[f"{mode}_makespan"] = makespan_ratio(sim)
        out.update({f"share:{mode}:{u}": v for u, v in fair.items()})
    return out


def caps_and_sybil(make: Factory, o: Options) -> Figures:
    """Per-tenant concurrency caps and sub-keys (sybil tenants): not built yet, so not measured."""
    return {}


@dataclass(frozen=True, slots=True)
class Metric:
    """One table row: a figure's key, its label, and the target it must meet (lo <= value <= hi)."""

    key: str
    label: str
    lo: float | None = None
    hi: float | None = None
    fmt: str = "{:.3f}"
    note: str = "—"  # the target column of a figure without a target

    @property
    def target(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f"{self.lo:g}..{self.hi:g}"
        return f">= {self.lo:g}" if self.lo is not None else f"<= {self.hi:g}" if self.hi is not None else self.note

    def met(self, value: float) -> str:
        if self.lo is None and self.hi is None:
            return "—"
        return "NO" if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi) else "yes"


SHARE, MAKESPAN = "worst share / fair share", "makespan / ideal"
SCENARIOS: list[tuple[str, Callable[[Factory, Options], Figures], list[Metric]]] = [
    (
        "1 skew (100x backlog)",
        skew,
        [
            Metric("worst", f"{SHARE} (tasks, count mode)", lo=0.98),
            Metric("small_p95", "p95 wait, worst small tenant (s)", fmt="{:.1f}"),
            Metric("big_p95", "p95 wait, big tenant (s)", fmt="{:.1f}"),
            Metric("makespan", MAKESPAN, hi=1.01),
        ],
    ),
    (
        "2 trickle",
        trickle,
        [
            Metric("p50", "quiet tenant p50 wait (ms)", fmt="{:.0f}"),
            Metric("p95", "quiet tenant p95 wait (ms; tasks take 50-150)", hi=HEAVY_MAX, fmt="{:.0f}"),
            Metric("max", "quiet tenant max wait (ms)", hi=2 * HEAVY_MAX, fmt="{:.0f}"),
            Metric("heavy_p50", "heavy tenants' p50 wait (s), for scale", fmt="{:.1f}"),
            Metric("backlogged", "heavy tenants backlogged throughout (1 = yes)", lo=1, fmt="{:.0f}"),
        ],
    ),
    (
        "3 mixed cost (2 s vs 2 ms)",
        mixed,
        [
            Metric("time_b", "time mode: B's share of worker time", lo=0.475, hi=0.525),
            Metric("time_dev", "time mode: max |share / fair share - 1|", hi=0.05),
            Metric("count_b", "count mode: B's share of worker time", fmt="{:.4f}", note="(0.5 is fair)"),
            Metric("count_dev", "count mode: max |share / fair share - 1|", note="(far off: fair by count)"),
        ],
    ),
    (
        "4 weights 1:2:5",
        weights,
        [
            Metric("count_worst", f"count mode: {SHARE} (tasks)", lo=0.98),
            Metric("time_worst", f"time mode: {SHARE} (worker time)", lo=0.98),
            Metric("count_makespan", f"count mode: {MAKESPAN}", hi=1.01),
        ],
    ),
    ("5 caps & sybil", caps_and_sybil, [Metric("-", "per-tenant concurrency caps, sub-key splitting")]),
]


def run_all(make: Factory, o: Options) -> dict[str, Figures]:
    """Every scenario's figures, by scenario name (progress on stderr)."""
    results = {}
    for name, scenario, _ in SCENARIOS:
        started = time.perf_counter()
        results[name] = scenario(make, o)
        print(f"  {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return results


def rows(results: dict[str, Figures]) -> list[tuple[str, str, str, str, str]]:
    """(scenario, metric, value, target, met?) for the table."""
    out = []
    for name, _, metrics in SCENARIOS:
        for m in metrics:
            value = results.get(name, {}).get(m.key)
            if value is None:
                out.append((name, m.label, "not yet measured", m.target, "—"))
                continue
            out.append((name, m.label, m.fmt.format(value), m.target, m.met(value)))
    return out


HEADER = ("scenario", "metric", "value", "target", "met?")


def text_table(table: list[tuple[str, str, str, str, str]]) -> str:
    widths = [max(len(r[i]) for r in [HEADER, *table]) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [HEADER, *table]]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def markdown_table(table: list[tuple[str, str, str, str, str]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + " --- |" * 5]
    return "\n".join(lines + ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in table])


def plot(results: dict[str, Figures], path: Path) -> bool:
    """Bars of share / fair share per tenant: skew, weights and mixed cost (count beside time).
    False when matplotlib is missing (`scripts/bootstrap.sh --group bench` installs it)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    both = ("count", "time")
    panels = [(0, ("count",), "tasks"), (3, both, "tasks (count), worker time (time)"), (2, both, "worker time")]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), gridspec_kw={"width_ratios": [10, 4, 3]})
    for ax, (index, modes, measure) in zip(axes, panels, strict=True):
        name = SCENARIOS[index][0]
        width = 0.8 / len(modes)
        for i, mode in enumerate(modes):
            keys = [k for k in results[name] if k.startswith(f"share:{mode}:")]
            ax.bar([j + i * width for j in range(len(keys))], [results[name][k] for k in keys], width, label=mode)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(keys))], [k.split(":")[2] for k in keys], fontsize=8)
        ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
        ax.set_title(f"{name}\nshare of {measure}", fontsize=9)
        ax.legend(title="mode", fontsize=8)
    axes[0].set_ylabel("achieved share / fair share")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


INTRO = """# Fairness

FairQueue serves tenants (a task's `user`), not tasks: a worker's next task comes from the tenant
with the least *virtual time* among those with queued work (stride scheduling). A pop advances the
served tenant by its charge / weight; a tenant that gets work starts at the current minimum, so it
is served within one round and banks no credit while idle. Fair means: while tenants are backlogged
each gets worker capacity in proportion to its weight (`TenantSettings.weight`, the Tenant row),
however many tasks it queued, and a quiet tenant's task waits about one task, not anyone's backlog.

- **count mode** (`FAIRNESS = "count"`, the default) charges 1 per pop: equal *numbers of tasks*
  by weight. Right when every tenant's tasks cost about the same.
- **time mode** (`FAIRNESS = "time"`) charges the task's worker time in ms: the declared
  `Task(cost=...)`, else the tenant's running average of measured run times (settled at the ack).
  Right when costs differ between tenants: in count mode a tenant of 2 s tasks gets a thousand
  times the worker time of a tenant of 2 ms tasks. Declare `cost` when you know it; every worker
  of a queue must use the same mode.

## How the figures are made

`tests/perf/fairness_report.py` drives the real engine (its Lua, a private redis-server) with a
discrete-event simulation on a **logical clock**: W virtual workers pop in worker order at each
logical instant, "run" each task for its synthetic duration (declared as its `cost`) and ack it when
that much logical time has passed, so the machine's speed enters no figure. Shares are measured
while every backlogged tenant of the scenario still has queued work (until the first runs dry):
task counts in count mode, worker time in time mode and in the mixed-cost scenario. Waits are
logical, from enqueue to pop.

```bash
make fairness                      # this page and fairness.png; FAIRNESS_ARGS="--tasks 50" to scale
python -m tests.perf.fairness_report [--tasks 100] [--workers 4] [--seed 1] [--write]
```

Scenarios: **1** one tenant with 100x the tasks of 9 others (100 ms each); **2** three backlogged
heavy tenants (50-150 ms tasks) and a quiet one adding a 100 ms task every ~500 ms; **3** tenant A
with 2,000 ms tasks and B with 2 ms tasks, equal weights, count mode and time mode; **4** weights
1:2:5, equal durations; **5** per-tenant concurrency caps and sybil tenants (sub-keys): not built yet.
"""


def write_docs(table: list[tuple[str, str, str, str, str]], results: dict[str, Figures], o: Options) -> None:
    """docs/fairness.md and docs/fairness.png."""
    drawn = plot(results, DOCS / "fairness.png")
    image = "![share / fair share per tenant](fairness.png)" if drawn else "(no chart: matplotlib is not installed)"
    run = f"--tasks {o.tasks} --workers {o.workers} --seed {o.seed}"
    (DOCS / "fairness.md").write_text(f"{INTRO}\n## Results\n\n`{run}`:\n\n{markdown_table(table)}\n\n{image}\n")
    if not drawn:
        print("matplotlib is missing: no docs/fairness.png (scripts/bootstrap.sh --group bench)", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100, help="tasks per light tenant (scale; default 100)")
    parser.add_argument("--workers", type=int, default=4, help="virtual workers (default 4)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random durations and arrivals")
    parser.add_argument("--write", action="store_true", help="write docs/fairness.md and docs/fairness.png")
    args = parser.parse_args(argv)
    o = Options(args.tasks, args.workers, args.seed)
    with bench_redis() as url:
        client = connect(RedisOptions(url=url))
        try:
            results = run_all(queues(client), o)
        finally:
            client.close()
    table = rows(results)
    print(text_table(table))
    if args.write:
        write_docs(table, results, o)
    return 0  # a report, not a gate: a missed target shows as NO


if __name__ == "__main__":
    sys.exit(main())
