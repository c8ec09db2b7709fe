"""Fairness report: `python -m tests.perf.fairness_report [--tasks N] [--workers W] [--seed S] [--write]`
(`make fairness`). A discrete-event simulation on a logical clock drives the real engine on a private
Redis (how: INTRO below); prints one table, and with --write docs/fairness.md and docs/fairness.png.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from queueapp.engine import RedisOptions, connect
from queueapp.engine.settings import TenantSettings
from tests.perf.fairness_sim import (
    Factory,
    Options,
    Sim,
    busy_fraction,
    makespan_ratio,
    max_in_flight,
    pct,
    queues,
    shares,
    waits,
)
from tests.perf.harness import bench_redis

Figures = dict[str, float]
DURATION = 100.0  # ms: the equal task duration of skew and weights
DOCS = Path(__file__).resolve().parents[2] / "docs"


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


CAP = 2


def caps(make: Factory, o: Options) -> Figures:
    """8 workers; tenant C (1,000 ms tasks) capped at 2 running, D and E (100 ms) uncapped; the
    same load without the cap beside it: the cap binds and the workers stay busy with D and E."""
    window = o.tasks * 100.0
    out: Figures = {}
    for label, cap in (("capped", CAP), ("uncapped", None)):
        q = make(f"caps-{label}", "count")
        q.set_tenants([TenantSettings("C", max_running=cap)])
        sim = Sim(q, 8, [])
        sim.push("C", [1000.0] * (int(8 * window / 1000) + 8))
        for user in ("D", "E"):
            sim.push(user, [100.0] * (int(8 * window / 100) + 8))
        sim.run(until=window)
        out[f"{label}_c"] = float(max_in_flight(sim, "C"))
        out[f"{label}_busy"] = busy_fraction(sim, window)
        out[f"{label}_others"] = float(sum(1 for r in sim.runs if r.user != "C" and r.end <= window))
    out["busy_ratio"] = out["capped_busy"] / out["uncapped_busy"]
    out["others_gain"] = out["capped_others"] / max(1.0, out["uncapped_others"])
    return out


SYBIL_KEYS = 100


def sybil(make: Factory, o: Options) -> Figures:
    """Count mode: tenant S spreads its work over 100 sub-keys, tenant H uses one; equal durations."""
    sim = Sim(make("sybil", "count"), o.workers, ["S", "H"])
    sim.push("S", [DURATION] * (10 * o.tasks), [f"k{i}" for i in range(SYBIL_KEYS)])
    sim.push("H", [DURATION] * (10 * o.tasks), ["only"])
    sim.run()
    fair = shares(sim, {"S": 1.0, "H": 1.0}, "count")
    return {"ratio": fair["S"] / fair["H"], "dev": abs(fair["S"] / fair["H"] - 1)}


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
    (
        "5 caps (8 workers)",
        caps,
        [
            Metric("capped_c", f"capped tenant's max tasks in flight (cap {CAP})", hi=CAP, fmt="{:.0f}"),
            Metric("uncapped_c", "... the same tenant without its cap, for scale", fmt="{:.0f}"),
            Metric("busy_ratio", "worker time used with the cap / without", lo=0.90),
            Metric("others_gain", "other tenants' tasks done with the cap / without", lo=1.0, fmt="{:.2f}"),
        ],
    ),
    (
        "6 sybil (100 sub-keys vs 1)",
        sybil,
        [
            Metric("ratio", "share of the 100-sub-key tenant / the one-key tenant's", lo=0.95, hi=1.05),
        ],
    ),
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
1:2:5, equal durations; **5** 8 workers, tenant C (1,000 ms tasks) capped at 2 running beside
two uncapped tenants (100 ms), the same load without the cap for comparison; **6** a tenant spreading
its work over 100 sub-keys against one using a single key.

## Limits and sub-keys

- **Caps and rates** (Tenant row: *max running*, *rate limit*, *burst*; synced like the weight):
  enforced inside the pop script, so a cap holds with any number of workers. A tenant at its
  limit is *held*, out of the ready sets, so workers serve everyone else meanwhile (scenario 5:
  the workers stay busy); its tasks wait, nothing is dropped. The dashboard shows it *at cap* or
  *throttled*. A rate of r tasks/s with burst b is a token bucket: at most b at once, r per second
  after that (`tests/workers/test_rate_limit.py` runs a real worker against 20/s).
- **Sub-keys** (`.using(user="acme", subkey="project-7")`): a tenant's sub-keys share its turn
  round-robin (start-time fair queueing inside its lane, docs/architecture.md). The tenant's share
  is the same whether it uses one sub-key or a hundred (scenario 6), and the pop costs the same.
- The starvation bounds across tenants, priorities and limits are written down in
  docs/architecture.md (Fairness) and checked by tests/integration/test_starvation_bounds.py.
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
