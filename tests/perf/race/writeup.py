"""docs/performance.md and docs/performance.png from a race's results (matplotlib is imported
only here, from the bench group: without it the page is written without its chart)."""

from __future__ import annotations

import datetime
from pathlib import Path

from tests.perf.race.adaptors import LABELS
from tests.perf.race.measure import LIGHT_PER_TENANT, LIGHT_TENANTS
from tests.perf.race.report import PHASES, Results, Summary, cell, cost_label, noisy_labels, number
from tests.processes import ROOT

DOCS = ROOT / "docs"

METHOD = """\
## How it is measured

- **One private `redis-server`** (no persistence; `FLUSHALL` before every scenario) for all
  libraries; each library's own worker CLI runs as one subprocess (RQ's pool forks 8).
  Every task body is exactly one Redis command on that same Redis: `INCR race:done`
  (tests/perf/race/body.py), and the harness polls that counter every 5 ms, the same way for
  every library. Libraries run with their defaults, logging to a file, except what the
  configuration table says.
- **Enqueue, single**: N calls of the library's normal one-task enqueue; FairQueue's is
  Django's `task.using(user=...).enqueue()` through `FairQueueBackend`, over 10 tenants.
  **Enqueue, batch**: the library's batch API (see the configuration table).
- **Drain**: the N tasks of the enqueue before are queued, then the worker is spawned; the
  clock runs from the first completed task to the counter reaching N (start-up is not timed;
  for a pool, the ramp-up of its other workers is). Concurrency 1 drains the single
  enqueue's tasks, concurrency 8 the batch's.
- **Redis cost**: deltas over the timed phase, divided by the tasks in it: server CPU
  (`INFO cpu` used_cpu_sys + used_cpu_user), commands (sum of `calls` in `INFO commandstats`,
  which counts the commands run inside Lua scripts too) and reply writes
  (`INFO stats` total_writes_processed). The harness's own INFO and polling commands are
  subtracted (not their few µs of CPU). Round trips cannot be counted exactly on Redis 7.0:
  it keeps no per-client command count, and total_commands_processed includes the commands
  of Lua scripts. Reply writes are the nearest measure: one per reply the server flushes to a
  client, so a pipeline or a script call is one, and a blocking pop is one when it returns.
- **Noisy neighbour**: a worker is started and its start-up task done (it is running and
  idle), then {heavy:,} heavy tasks (sleep 2 ms, then the INCR) are enqueued with the batch
  API, then {tenants} x {per_tenant} light tasks with single enqueues. Each light
  task is passed `time.time()` at its enqueue and RPUSHes its own latency (now - that) when it
  runs. Tenants exist only in FairQueue (`heavy`, `light0`..`light4`); the other libraries get
  the same tasks on their one default queue, which is how their users run them. Total drain:
  from the first heavy enqueue until every task finished.
- **Worker start-up**: one task queued, then the worker spawned; seconds from the spawn until
  that task completed (Python start-up, imports and connecting included).
- Medians of the runs, with min-max; runs interleave the libraries. Ratios are
  library / FairQueue: above 1 is more tasks/s, or more cost or latency, than FairQueue.
"""


FOOTNOTES = [
    "Notes on the rows:",
    "",
    "- *enqueue, batch*: Huey and arq have no batch API, so their row is the single-call loop again;",
    "  Dramatiq's `group().run()` and Celery's `group().apply_async()` enqueue their tasks one by one;",
    "  RQ's `enqueue_many` and FairQueue's `enqueue_many` / `push_many` are pipelines.",
    "- *Redis commands* count the commands Lua scripts run (FairQueue's push, pop and ack are scripts,",
    "  so are Dramatiq's enqueue and fetch); *reply writes* approximate round trips (see below).",
    "- *drain, concurrency 8*: RQ has no threads: `rq worker-pool -n 8` runs 8 SimpleWorker processes.",
    "  arq runs with `poll_delay` = 1 ms, not its 0.5 s default: one poll starts at most max_jobs jobs",
    "  and then sleeps, so with the default max_jobs=1 did 2 tasks/s (0.01 s: about 90 tasks/s).",
    "- *noisy neighbour*: the worker is already running (start-up not included in the latencies).",
]


def others(results: Results, label: str) -> list[tuple[str, float]]:
    """(library, median) of every library but FairQueue with a value for label, lowest first."""
    got = [(LABELS[lib], results.summary(lib, label)) for lib in results.values if lib != "fairqueue"]
    return sorted(((name, s.median) for name, s in got if isinstance(s, Summary)), key=lambda pair: pair[1])


def headlines(results: Results) -> list[str]:
    """A few sentences computed from the table (no number in them is typed by hand)."""
    lines = []

    def fq(label: str) -> float | None:
        got = results.summary("fairqueue", label)
        return got.median if isinstance(got, Summary) else None

    def spread(label: str, scale: float = 1.0, unit: str = "") -> str:
        rest = others(results, label)
        if not rest:
            return ""
        (low_name, low), (high_name, high) = rest[0], rest[-1]
        return f"{number(low * scale)}{unit} ({low_name}) to {number(high * scale)}{unit} ({high_name})"

    c1, c8 = noisy_labels(1)[0], noisy_labels(8)[0]
    if fq(c1) is not None and others(results, c1):
        lines.append(
            f"- **Noisy neighbour**: with {results.heavy:,} heavy tasks queued ahead of them, the light tasks"
            f" waited at most {number(fq(c1))} ms on FairQueue at concurrency 1 ({number(fq(c8) or 0)} ms at 8);"
            f" on the others' one FIFO queue {spread(c1, 1e-3, ' s')} at 1, {spread(c8, 1e-3, ' s')} at 8."
        )
    for concurrency in (1, 8):
        label = f"drain, concurrency {concurrency}"
        if fq(label) is not None and others(results, label):
            lines.append(
                f"- **Drain, concurrency {concurrency}**: FairQueue {number(fq(label))} tasks/s;"
                f" the others {spread(label)} tasks/s."
            )
    cpu, calls = cost_label("cpu", "drain, concurrency 1"), cost_label("calls", "drain, concurrency 1")
    if fq(cpu) is not None and others(results, cpu):
        lines.append(
            f"- **Redis cost of a drained task** (concurrency 1): FairQueue {number(fq(cpu))} µs of Redis CPU and"
            f" {number(fq(calls))} commands (most inside its Lua scripts) in about"
            f" {number(fq(cost_label('writes', 'drain, concurrency 1')))} round trips;"
            f" the others {spread(cpu)} µs and {spread(calls)} commands."
        )
    return lines


def markdown_table(results: Results) -> list[str]:
    libs = list(results.values) + [lib for lib in results.unavailable if lib not in results.values]
    out = [
        "| measure | unit | " + " | ".join(LABELS[lib] for lib in libs) + " |",
        "| --- | --- |" + " ---: |" * len(libs),
    ]
    for label, unit, _ in results.filled_rows():
        cells = []
        for lib in libs:
            median, spread, ratio = cell(results, lib, label, sep="–")
            text = f"**{median}**" if lib == "fairqueue" and spread else median
            if spread:
                text += f" ({spread})"
            cells.append(f"{text} {ratio}".strip())
        out.append(f"| {label} | {unit} | " + " | ".join(cells) + " |")
    return out


def config_table(results: Results) -> list[str]:
    out = ["| library | version | worker and settings | enqueue, batch |", "| --- | --- | --- | --- |"]
    for lib, (config, batch) in results.configs.items():
        version = results.versions.get(lib) or f"n/a ({results.unavailable.get(lib, '?')})"
        out.append(f"| {LABELS[lib]} | {version} | {config} | {batch} |")
    return out


def chart(results: Results, path: Path) -> str | None:
    """Grouped bars: tasks/s, Redis µs per task, light-task max latency. None if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    panels = [
        ("tasks/s (log scale)", [p for p in PHASES if "engine" not in p], True),
        ("Redis CPU µs per task", [cost_label("cpu", p) for p in PHASES if "engine" not in p], False),
        ("noisy neighbour: light tasks' max latency, ms (log)", [noisy_labels(c)[0] for c in (1, 8)], True),
    ]
    libs = list(results.values)
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2), gridspec_kw={"width_ratios": [4, 4, 2.2]})
    width = 0.8 / max(len(libs), 1)
    for ax, (title, labels, log) in zip(axes, panels, strict=True):
        for i, lib in enumerate(libs):
            got = [results.summary(lib, label) for label in labels]
            medians = [s.median if hasattr(s, "median") else 0 for s in got]
            errors = [[m - s.low if hasattr(s, "low") else 0 for s, m in zip(got, medians, strict=True)]]
            errors.append([s.high - m if hasattr(s, "high") else 0 for s, m in zip(got, medians, strict=True)])
            xs = [x + (i - (len(libs) - 1) / 2) * width for x in range(len(labels))]
            ax.bar(xs, medians, width, yerr=errors, capsize=2, label=LABELS[lib])
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels([short(label) for label in labels], fontsize=9)
        ax.set_title(title, fontsize=10)
        if log:
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=9)
    fig.suptitle(f"FairQueue race, {results.tasks:,} tasks, median of {results.runs} runs (bars: min-max)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def short(label: str) -> str:
    label = label.replace("Redis CPU, ", "").replace("noisy neighbour ", "").replace(": light tasks' max latency", "")
    return label.replace("concurrency ", "c").replace(", ", "\n")


def write_docs(results: Results) -> str:
    DOCS.mkdir(exist_ok=True)
    png = chart(results, DOCS / "performance.png")
    m = results.machine
    when = datetime.date.today().isoformat()
    lines = [
        "# Performance: FairQueue against Huey, Dramatiq, Celery, RQ and arq",
        "",
        "<!-- Written by `make race` (tests/perf/race/writeup.py); edit that, not this page. -->",
        "",
        "```bash",
        "make race                                   # installs the bench group, then the whole race (~15 min)",
        'make race RACE_ARGS="--runs 1 --tasks 500"  # smaller',
        ".venv/bin/python -m tests.perf.race --runs 3 --tasks 3000 --only fairqueue,huey --no-write",
        "```",
        "",
        "A side-by-side race on one machine, one private Redis, with the task body reduced to one",
        "Redis command so the numbers are the libraries' own overhead. It is not a CI gate;",
        "compare the columns of one run (a loaded machine moves every column).",
        "",
        f"## Latest results ({when})",
        "",
        f"{m.get('cores')} cores ({m.get('cpu')}), Redis {m.get('redis')} on loopback, Python {m.get('python')},"
        f" {m.get('os')}. {results.tasks:,} tasks per enqueue and drain measure, median of {results.runs} runs"
        f" (min–max); `xR` = library / FairQueue. The race took {results.duration / 60:.1f} minutes.",
        "",
        *headlines(results),
        "",
        *markdown_table(results),
        "",
    ]
    for lib, reason in results.unavailable.items():
        lines.append(f"- {LABELS[lib]}: n/a ({reason})")
    lines += ["", *FOOTNOTES, ""]
    if png:
        lines += ["", f"![tasks/s, Redis CPU per task and light-task latency per library]({png})", ""]
    method = METHOD.format(heavy=results.heavy, tenants=LIGHT_TENANTS, per_tenant=LIGHT_PER_TENANT)
    lines += ["## Configuration", "", *config_table(results), "", method]
    page = DOCS / "performance.md"
    page.write_text("\n".join(lines))
    return f"wrote {page.relative_to(ROOT)}" + (f" and docs/{png}" if png else " (no chart: matplotlib missing)")
