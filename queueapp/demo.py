"""Demo tasks for `make run`, smoke tests and benchmarks."""

from __future__ import annotations

import time

from .tasks_api import task


@task
def noop():
    """Does nothing: measures the queue itself."""


@task
def sleep(ms: int = 100):
    """Sleeps `ms` milliseconds, like a task waiting on I/O."""
    time.sleep(ms / 1000)
    return ms


@task(max_retries=2)
def fail(message: str = "demo failure"):
    """Always raises: retried with backoff, then dead-lettered with its traceback."""
    raise RuntimeError(message)


@task
def echo(value=None):
    """Returns its argument: shows results."""
    return value
