"""What every library's adaptor provides to the race, and the errors it may raise."""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from tests.perf.race.body import URL_ENV
from tests.perf.race.measure import Phase
from tests.processes import ROOT

BIN = Path(sys.executable).parent  # the venv's console scripts: each library's own worker CLI
TENANTS = 10  # FairQueue spreads the throughput tasks over this many tenants; the others have one queue


class Unavailable(Exception):
    """The library cannot race here (not installed, will not start): its cells say n/a (reason)."""


@dataclass(frozen=True)
class Context:
    url: str  # the private race Redis
    work: Path  # temporary directory: logs, FairQueue's SQLite file


def split(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


class Adaptor:
    """One library: its enqueue calls (timed inside `with phase:`) and its worker command line."""

    name = ""
    dist = ""  # distribution whose version is reported
    batch_note = ""  # what "enqueue, batch" runs for this library
    config = ""  # the worker command and settings, for docs/performance.md

    def setup(self, ctx: Context) -> None:
        self.ctx = ctx

    @staticmethod
    def load(*modules: str) -> list:
        """The library's modules (and its race task module), or Unavailable naming what is missing."""
        try:
            return [importlib.import_module(m) for m in modules]
        except ImportError as exc:
            raise Unavailable(f"not installed: {exc.name}") from exc

    def version(self) -> str:
        return metadata.version(self.dist)

    def after_flush(self) -> None:
        """Called after each FLUSHALL: drop whatever the client cached about Redis state."""

    def enqueue_single(self, n: int, phase: Phase) -> None:
        raise NotImplementedError

    def enqueue_batch(self, n: int, phase: Phase) -> None:
        raise NotImplementedError

    def extra_enqueues(self) -> dict[str, object]:
        """Further enqueue paths worth a row of their own: {label: fn(n, phase)}."""
        return {}

    def enqueue_one(self) -> None:
        """The start-up probe: one count task, queued before the worker is spawned."""
        raise NotImplementedError

    def enqueue_noisy(self, heavy_n: int, tenants: int, per_tenant: int) -> None:
        """heavy_n heavy tasks (batch API), then tenants x per_tenant light ones, each passed time.time()."""
        raise NotImplementedError

    def worker_argv(self, concurrency: int) -> list[str]:
        raise NotImplementedError

    def worker_env(self, concurrency: int) -> dict[str, str]:
        return {**clean_env(), URL_ENV: self.ctx.url, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def clean_env() -> dict[str, str]:
    """os.environ without the Django and FairQueue settings the FairQueue adaptor puts there: with
    DJANGO_SETTINGS_MODULE set, Celery's worker would set Django up and close DB connections per task."""
    fairqueue = ("DJANGO_SETTINGS_MODULE", "REDIS_URL", "DATABASE_URL")
    return {k: v for k, v in os.environ.items() if k not in fairqueue and not k.startswith("FAIRQUEUE_")}
