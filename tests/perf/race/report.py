"""The race's results: per-run values (or why a run has none), medians with min-max,
ratios to FairQueue, and the plain-text table printed at the end."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.perf.race.adaptors import LABELS, MODULES
from tests.perf.race.measure import Cost, Probe

PHASES = [
    "enqueue, single",
    "enqueue, batch",
    "enqueue, batch: engine push_many",
    "drain, concurrency 1",
    "drain, concurrency 8",
]
COSTS = {  # kind: (label prefix, unit)
    "cpu": ("Redis CPU", "µs/task"),
    "calls": ("Redis commands", "cmds/task"),
    "writes": ("Redis reply writes (~ round trips)", "writes/task"),
}
NOISY = [("light tasks' max latency", "ms"), ("light tasks' median latency", "ms"), ("total drain", "s")]
STARTUP = "worker start-up"


def cost_label(kind: str, phase: str) -> str:
    return f"{COSTS[kind][0]}, {phase}"


def phase_labels(phase: str) -> list[str]:
    """The throughput row of a phase and its Redis cost rows."""
    return [phase, *(cost_label(kind, phase) for kind in COSTS)]


def cost_values(cost: Cost, tasks: int) -> dict[str, float]:
    return {"cpu": cost.cpu_s * 1e6 / tasks, "calls": cost.calls / tasks, "writes": cost.writes / tasks}


def noisy_labels(concurrency: int) -> list[str]:
    return [f"noisy neighbour c{concurrency}: {what}" for what, _ in NOISY]


def rows() -> list[tuple[str, str, bool]]:
    """Every row the race can fill, in table order: (label, unit, higher is better)."""
    out = [(phase, "tasks/s", True) for phase in PHASES]
    for kind, (_, unit) in COSTS.items():
        out += [(cost_label(kind, phase), unit, False) for phase in PHASES]
    for concurrency in (1, 8):
        out += [(label, unit, False) for label, (_, unit) in zip(noisy_labels(concurrency), NOISY, strict=True)]
    out += [(f"{STARTUP}, concurrency {c}", "s", False) for c in (1, 8)]
    return out


@dataclass(frozen=True)
class Summary:
    median: float
    low: float
    high: float
    failed: tuple[str, ...]  # the runs without a value, and why


@dataclass
class Results:
    tasks: int
    runs: int
    heavy: int
    values: dict[str, dict[str, list[float | str]]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    configs: dict[str, tuple[str, str]] = field(default_factory=dict)  # lib: (worker config, batch API)
    machine: dict[str, str] = field(default_factory=dict)
    duration: float = 0.0

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> Results:
        data = json.loads(path.read_text())
        data["configs"] = {lib: tuple(pair) for lib, pair in data["configs"].items()}
        return cls(**data)

    def add(self, lib: str, label: str, value: float | str) -> None:
        self.values.setdefault(lib, {}).setdefault(label, []).append(value)

    def libraries(self) -> list[str]:
        return [name for name in MODULES if name in self.values or name in self.unavailable]

    def summary(self, lib: str, label: str) -> Summary | str | None:
        """Median, min and max of the runs that have a value; else why none has (or None: no such row)."""
        if lib in self.unavailable:
            return "n/a"
        got = self.values.get(lib, {}).get(label)
        if not got:
            return None
        numbers = [v for v in got if isinstance(v, float | int)]
        failed = tuple(v for v in got if isinstance(v, str))
        if not numbers:
            return failed[0]
        return Summary(statistics.median(numbers), min(numbers), max(numbers), failed)

    def ratio(self, lib: str, label: str) -> float | None:
        """lib's median / FairQueue's median (so > 1 means more tasks/s, or more cost, than FairQueue)."""
        mine, theirs = self.summary(lib, label), self.summary("fairqueue", label)
        if lib == "fairqueue" or not isinstance(mine, Summary) or not isinstance(theirs, Summary):
            return None
        return mine.median / theirs.median if theirs.median else None

    def filled_rows(self) -> list[tuple[str, str, bool]]:
        return [row for row in rows() if any(self.summary(lib, row[0]) not in (None, "n/a") for lib in self.values)]


def decimals(value: float) -> int:
    """About three significant digits (0.0033 writes per task stay visible)."""
    magnitude = abs(value)
    if magnitude >= 100:
        return 0
    if magnitude >= 10:
        return 1
    if magnitude >= 1 or magnitude == 0:
        return 2
    return min(2 - math.floor(math.log10(magnitude)), 6)


def number(value: float, like: float | None = None) -> str:
    """value with the decimals that suit `like` (a row's median), thousands separated."""
    return f"{value:,.{decimals(value if like is None else like)}f}"


def times(ratio: float) -> str:
    return f"x{ratio:,.0f}" if ratio >= 100 else f"x{ratio:.1f}" if ratio >= 10 else f"x{ratio:.2f}"


def cell(results: Results, lib: str, label: str, sep: str = "-") -> tuple[str, str, str]:
    """(median, min-max, ratio) as text; an unmeasured cell says why in the first."""
    got = results.summary(lib, label)
    if got is None:
        return "", "", ""
    if isinstance(got, str):
        return got, "", ""
    spread = f"{number(got.low, got.median)}{sep}{number(got.high, got.median)}"
    if got.failed:
        spread += f", {len(got.failed)} {got.failed[0]}"
    ratio = results.ratio(lib, label)
    return number(got.median), spread, times(ratio) if ratio is not None else ""


def machine(probe: Probe) -> dict[str, str]:
    model = "?"
    try:
        with open("/proc/cpuinfo") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "?")
    except OSError:
        pass
    return {
        "cores": str(os.cpu_count()),
        "cpu": model,
        "redis": probe.info("server")["redis_version"],
        "python": platform.python_version(),
        "os": platform.platform(terse=True),
    }


def text_table(results: Results) -> str:
    """One block per measure, one line per library: median (min-max) and ratio to FairQueue."""
    m = results.machine
    lines = [
        "",
        f"race: {results.tasks:,} tasks per enqueue/drain, {results.heavy:,} heavy in the noisy neighbour,"
        f" median of {results.runs} run(s) (min-max); ratio = library / FairQueue",
        f"machine: {m.get('cores')} cores ({m.get('cpu')}), Redis {m.get('redis')}, Python {m.get('python')};"
        f" race took {results.duration / 60:.1f} min",
    ]
    for name, reason in results.unavailable.items():
        lines.append(f"{LABELS[name]}: n/a ({reason})")
    for label, unit, higher in results.filled_rows():
        lines.append(f"\n{label} [{unit}, {'higher' if higher else 'lower'} is better]")
        for lib in results.values:
            median, spread, ratio = cell(results, lib, label)
            if median:
                lines.append(f"  {LABELS[lib]:<10} {median:>10}  {spread:<24} {ratio}")
    return "\n".join(lines)
