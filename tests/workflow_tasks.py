"""Tasks for the workflow tests: an extract -> transform -> load pipeline that hands
its data on by XCom, and a fan-in that reads its upstream steps' return values.
Each writes what it saw to the ledger (tests/fixture_tasks.ledger)."""

from __future__ import annotations

import json

from queueapp import xcom_pull, xcom_push, xcom_task
from queueapp.tasks_api import task
from tests.fixture_tasks import ledger


def _note(tag: str, value) -> None:
    client, key = ledger()
    client.rpush(f"{key}:order", tag)
    client.hset(f"{key}:seen", tag, json.dumps(value))


@task(max_retries=0)
@xcom_task("rows")
def extract(source: str):
    rows = [f"{source}:{i}" for i in range(3)]
    _note(f"extract:{source}", rows)
    return rows


@task(max_retries=0)
def transform():
    rows = xcom_pull("rows", default=[])
    clean = [r.upper() for r in rows]
    xcom_push("clean", clean)
    _note("transform", clean)
    return len(clean)


@task(max_retries=0)
def load(label: str):
    clean = xcom_pull("clean")
    _note(f"load:{label}", clean)
    return clean


@task(max_retries=0)
def part(name: str):
    _note(f"part:{name}", name)
    return {"part": name}


@task(max_retries=0)
def merge():
    got = [xcom_pull(step="part"), xcom_pull(step="part-2")]
    _note("merge", got)
    return got


@task(max_retries=0)
def fails_unless_marked(tag: str):
    """Fails until the ledger's `<key>:ok` set holds `tag` (a test marks it before a requeue)."""
    client, key = ledger()
    _note(f"try:{tag}", tag)
    if not client.sismember(f"{key}:ok", tag):
        raise RuntimeError(f"{tag} is not marked ok yet")
    return tag


@xcom_task("summary")  # above @task: wraps the task's function
@task(max_retries=0)
def summarize(n: int):
    return {"n": n}
