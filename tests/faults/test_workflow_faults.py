"""Dependencies under worker faults, with real runworker processes (harness of
tests/faults/harness.py): a dependency whose worker dies or freezes between its
execution and its ack releases its dependents exactly once."""

from __future__ import annotations

import os
import signal
import time

import pytest

from queueapp.engine import Task
from tests.faults.harness import JOB, LEASE, drain, note, records, tally, wait_ready
from tests.processes import wait_for

DEPENDENTS = 10


def dependency_and_dependents(name: str, first_ms: int) -> list[Task]:
    dep = f"{name}-dep"
    tasks = [Task(JOB, args=[dep, 100], kwargs={"first_ms": first_ms}, user=f"{name}-a", id=dep)]
    tasks += [
        Task(JOB, args=[f"{name}-d{i}", 10], user=f"{name}-a", id=f"{name}-d{i}", depends_on=(dep,))
        for i in range(DEPENDENTS)
    ]
    return tasks


@pytest.mark.slow
def test_sigkill_of_the_dependency_worker_releases_dependents_exactly_once(fqueue, fenv, procs, raw, book):
    keys = fqueue.config.keys
    w1 = procs.start(fenv, "w1", concurrency=1)
    wait_ready(fqueue, w1)
    ids = [r.id for r in fqueue.push_many(dependency_and_dependents("DK", first_ms=6000))]
    wait_for(lambda: book.runs("DK-dep") == 1, what="the dependency to start on w1")
    w1.proc.kill()
    note("DK", f"SIGKILLed w1 (pid {w1.pid}) while it ran the dependency")
    assert all(records(raw, keys, [i])[i].state == "deferred" for i in ids[1:])
    procs.start(fenv, "w2", concurrency=4)
    drain(raw, keys, ids, timeout=120)
    result = tally("DK", raw, keys, ids, book)
    result.assert_ok()
    assert len(result.executions["DK-dep"]) == 2
    assert all(len(result.executions[f"DK-d{i}"]) == 1 for i in range(DEPENDENTS))
    assert fqueue.stats()["waiting"] == 0


@pytest.mark.faults
def test_a_frozen_dependency_worker_acks_stale_and_releases_nothing_twice(fqueue, fenv, procs, raw, book):
    """SIGSTOP w1 mid-dependency past its lease; w2 re-runs it and its ack releases the
    dependents; w1's late ack after SIGCONT is refused as stale and releases nothing."""
    keys = fqueue.config.keys
    w1 = procs.start(fenv, "w1", concurrency=1)
    wait_ready(fqueue, w1)
    ids = [r.id for r in fqueue.push_many(dependency_and_dependents("DS", first_ms=9000))]
    wait_for(lambda: book.runs("DS-dep") == 1, what="the dependency to start on w1")
    os.kill(w1.pid, signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        procs.start(fenv, "w2", concurrency=4)
        drain(raw, keys, ids, timeout=120)
        wait_for(lambda: time.monotonic() - stopped_at >= 3 * LEASE, timeout=60, what="3 x lease")
    finally:
        os.kill(w1.pid, signal.SIGCONT)
    wait_for(
        lambda: any("task=DS-dep " in ln and "outcome=stale" in ln for ln in w1.output().splitlines()),
        timeout=30,
        what="w1's stale ack",
    )
    result = tally("DS", raw, keys, ids, book)
    result.assert_ok()
    assert all(len(result.executions[f"DS-d{i}"]) == 1 for i in range(DEPENDENTS))
    assert all(result.records[f"DS-d{i}"].deliveries == 1 for i in range(DEPENDENTS))
    assert fqueue.stats()["waiting"] == 0 and raw.zcard(keys.running()) == 0
