"""The race (tests/perf/race, `make race`) still runs: FairQueue alone, tiny sizes, real
worker processes on the race's own private Redis. Needs no bench group (the other libraries'
adaptors are never imported)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.processes import ROOT

pytestmark = pytest.mark.slow

ROWS = [
    "enqueue, single",
    "enqueue, batch",
    "enqueue, batch: engine push_many",
    "drain, concurrency 1",
    "drain, concurrency 8",
    "Redis CPU, drain, concurrency 1",
    "Redis commands, enqueue, single",
    "Redis reply writes (~ round trips), drain, concurrency 8",
    "noisy neighbour c1: light tasks' max latency",
    "noisy neighbour c8: total drain",
    "worker start-up, concurrency 1",
]


def fairqueue_values(table: str) -> dict[str, float]:
    """{measure: FairQueue's median} from the printed table's blocks."""
    values, label = {}, None
    for line in table.splitlines():
        if header := re.match(r"^(\S.*) \[.*is better\]$", line):
            label = header.group(1)
        elif label and (row := re.match(r"^  FairQueue\s+([\d,.]+)\s", line)):
            values[label] = float(row.group(1).replace(",", ""))
    return values


def run_race(library: str, tasks: int, heavy: int, timeout: float) -> subprocess.CompletedProcess:
    """One run of the race for `library` at tiny sizes, on its own private Redis; nothing written."""
    env = {k: v for k, v in os.environ.items() if k != "FAIRQUEUE_BENCH_REDIS_URL"}  # always a private server
    argv = ["--only", library, "--tasks", str(tasks), "--runs", "1", "--heavy", str(heavy), "--no-write"]
    return subprocess.run(
        [sys.executable, "-m", "tests.perf.race", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_fairqueue_only_race_prints_positive_numbers():
    proc = run_race("fairqueue", tasks=50, heavy=100, timeout=100)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "worker logs kept" not in proc.stdout, proc.stdout[-3000:]  # kept only when a measure failed
    values = fairqueue_values(proc.stdout)
    missing = [row for row in ROWS if row not in values]
    assert not missing, proc.stdout
    assert all(value > 0 for value in values.values()), values


@pytest.mark.parametrize("library", ["huey", "dramatiq", "celery", "rq"])
def test_other_library_adaptor_runs_every_measure(library):
    """Where the bench group is installed (`make race` installs it; CI's venv has it not, so
    this skips there): an adaptor that breaks shows as 'error' rows and kept worker logs
    (RQ's batch enqueue once lost an attribute it used, and nothing noticed for days)."""
    pytest.importorskip(library)
    proc = run_race(library, tasks=30, heavy=40, timeout=150)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "error:" not in proc.stdout and "worker logs kept" not in proc.stdout, proc.stdout[-3000:]
