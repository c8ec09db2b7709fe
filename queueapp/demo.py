"""Demo tasks for `make run`, smoke tests and benchmarks."""

from __future__ import annotations

import time

from .tasks_api import task
from .xcom import xcom_pull, xcom_push, xcom_task


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


# a small pipeline for the demo: extract >> (transform | count) >> load, handing data on by XCom
@task
@xcom_task("rows")
def extract(source: str = "demo.csv"):
    """Reads (makes up) rows; the return value is also the XCom value "rows"."""
    return [f"{source}:{i}" for i in range(5)]


@task
def transform():
    clean = [row.upper() for row in xcom_pull("rows", default=[])]
    xcom_push("clean", clean)
    return len(clean)


@task
def count():
    return len(xcom_pull("rows", default=[]))


@task
def load():
    """Reads what transform stored and the return value of the count step."""
    return {"loaded": xcom_pull("clean", default=[]), "counted": xcom_pull(step="count")}
