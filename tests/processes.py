"""Real `manage.py runworker` processes for tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker_env(redis_url: str, prefix: str, ledger: str = "ledger", **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "REDIS_URL": redis_url,
        "FAIRQUEUE_PREFIX": prefix,
        "FAIRQUEUE_TASK_MODULES": "queueapp.demo,tests.fixture_tasks,tests.workflow_tasks",
        "FQ_LEDGER": ledger,
        "PYTHONUNBUFFERED": "1",
    }
    database = test_database()
    if database:
        env["DATABASE_URL"] = f"sqlite:///{database}"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def test_database() -> str | None:
    """The test database file pytest-django creates (tests/settings.py names it), when Django
    is set up in this process (not in the benchmarks)."""
    from django.conf import settings

    if not settings.configured:
        return None
    return settings.DATABASES["default"].get("TEST", {}).get("NAME")


def start_command(env: dict[str, str], command: str, *args: str, log: Path | None = None) -> subprocess.Popen:
    """`python manage.py <command> <args>` in the background, output to `log`."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (the process owns it)
    return subprocess.Popen(
        [sys.executable, "manage.py", command, *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
    )


def start_worker(env: dict[str, str], *args: str, log: Path | None = None) -> subprocess.Popen:
    return start_command(env, "runworker", *args, log=log)


def run_in_thread(worker) -> threading.Thread:
    """An engine Worker's run() in a daemon thread of this process (started)."""
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    return thread


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
