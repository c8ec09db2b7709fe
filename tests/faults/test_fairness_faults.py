"""T22 of reliability-anchors.md section 6: fairness under a worker fault. A noisy tenant with
a large backlog and nine quiet tenants; one worker of three is SIGKILLed at 30 % of the quiet
tenants' work. Compared with a no-fault run of the same load on the same machine."""

from __future__ import annotations

import math
import time
from collections import Counter

import pytest

from queueapp.engine import EngineConfig, FairQueue, Task
from tests.faults.harness import JOB, drain, fault_env, note, records, tally, wait_ready
from tests.processes import wait_for

NOISY, QUIET = 2000, 50  # tenant A's jobs, and each of B..J's (the table: 10,000 and 100)
QUIET_TENANTS = [f"T22-{c}" for c in "BCDEFGHIJ"]
MS = 30
WINDOW = 200  # pops per share window: each of 10 active tenants should get 1/10 of it, +/- 10 %


def load(name: str) -> list[Task]:
    """A's and B..J's jobs interleaved, so every tenant is in the first script call of the push."""
    tasks = []
    for i in range(NOISY):
        tasks.append(Task(JOB, args=[f"{name}-A-{i:04d}", MS], user="T22-A", id=f"{name}-A-{i:04d}"))
        if i < QUIET:
            tags = [f"{name}-{t[4:]}-{i:02d}" for t in QUIET_TENANTS]
            tasks += [Task(JOB, args=[tag, MS], user=t, id=tag) for t, tag in zip(QUIET_TENANTS, tags, strict=True)]
    return tasks


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def run(name, queue, env, procs, raw, book, kill: bool):
    """Start 3 workers, push the load, optionally SIGKILL one at 30 % of B..J's work; return
    (all ids, B..J ids, the workers) once every B..J job is finished."""
    keys = queue.config.keys
    ws = [procs.start(env, f"{name}w{i}", concurrency=4) for i in range(3)]
    wait_ready(queue, *ws)
    tasks = load(name)
    ids = [r.id for r in queue.push_many(tasks)]
    quiet = [t.id for t in tasks if t.user != "T22-A"]
    if kill:

        def quiet_started():
            return sum(1 for tag in quiet if book.runs(tag)) >= 0.3 * len(quiet)

        wait_for(quiet_started, timeout=120, interval=0.02, what="30 % of B..J's jobs started")
        ws[0].proc.kill()
        note(name, f"SIGKILLed worker {ws[0].worker_id} at 30 % of the quiet tenants' work")
    assert drain(raw, keys, quiet, timeout=180, what="B..J's jobs", idle=False), "B..J did not finish"
    return ids, quiet, ws


def measure(raw, keys, ids: list[str], quiet: list[str]):
    """p95 of B..J's enqueue-to-success times (s), and each tenant's pop counts per window of
    WINDOW pops while all 10 tenants still had work."""
    recs = records(raw, keys, ids)
    latencies = []
    for tag in quiet:
        history = recs[tag].history
        done = [h["at"] for h in history if h["state"] == "succeeded"]
        latencies.append((done[-1] - history[0]["at"]) / 1000)
    pops = sorted((h["at"], recs[i].user) for i in ids for h in recs[i].history if h["state"] == "running")
    users = [u for _, u in pops]
    last = {u: max(n for n, x in enumerate(users) if x == u) for u in set(users) if u != "T22-A"}
    cutoff = min(last.values())  # after this pop, some quiet tenant had nothing left to serve
    windows = [Counter(users[n : n + WINDOW]) for n in range(0, cutoff - WINDOW + 1, WINDOW)]
    return p95(latencies), windows, cutoff


@pytest.mark.faults
@pytest.mark.timeout(600)
def test_t22_fairness_when_a_worker_is_killed(rclient, prefix, redis_url, ledger_key, procs, raw, book):
    """T22 (scaled: A 2,000 jobs, B..J 50 each): with one worker SIGKILLed at 30 %, B..J's p95
    time to success stays within 2 x the no-fault run, every window of 200 pops (while all
    tenants have work) serves each tenant 1/10 +/- 10 %, and the recovered A jobs do not
    starve B..J. After the drain: lost = 0, one commit per job."""
    # the no-fault baseline, on its own key prefix (its leftovers are deleted)
    base_prefix = prefix[:-1] + "b}"
    base_queue = FairQueue(rclient, EngineConfig(prefix=base_prefix, lease_seconds=2))
    base_queue.mark_synced()
    base_env = fault_env(redis_url, base_prefix, redis_url, ledger_key)
    ids, quiet, ws = run("T22base", base_queue, base_env, procs, raw, book, kill=False)
    base_p95, base_windows, base_cutoff = measure(raw, base_queue.config.keys, ids, quiet)
    for wp in ws:
        wp.proc.kill()
        wp.proc.wait(10)
    for key in raw.scan_iter(match=base_prefix.replace("{", "\\{").replace("}", "\\}") + "*", count=1000):
        raw.delete(key)
    note("T22", f"baseline: B..J p95 time to success {base_p95:.2f} s; {len(base_windows)} share windows")

    queue = FairQueue(rclient, EngineConfig(prefix=prefix, lease_seconds=2))
    queue.mark_synced()
    keys = queue.config.keys
    env = fault_env(redis_url, prefix, redis_url, ledger_key)
    started = time.monotonic()
    ids, quiet, ws = run("T22", queue, env, procs, raw, book, kill=True)
    fault_p95, windows, cutoff = measure(raw, keys, ids, quiet)
    note(
        "T22",
        f"fault: B..J done {time.monotonic() - started:.1f} s after start; p95 {fault_p95:.2f} s "
        f"(baseline {base_p95:.2f} s)",
    )
    shares = [f"{min(w.values())}-{max(w.values())}" for w in windows]
    note("T22", f"pops per tenant per window of {WINDOW} (min-max) before pop {cutoff}: {', '.join(shares)}")
    assert drain(raw, keys, ids, timeout=240)
    result = tally("T22", raw, keys, ids, book)
    result.assert_ok()
    assert raw.zcard(keys.running()) == 0

    assert fault_p95 <= 2 * base_p95, f"B..J p95 {fault_p95:.2f} s > 2 x baseline {base_p95:.2f} s"
    assert windows, "no full window of pops while every tenant had work"
    low, high = 0.9 * WINDOW / 10, 1.1 * WINDOW / 10
    for n, window in enumerate(windows):
        assert set(window) == {"T22-A", *QUIET_TENANTS}
        assert all(low <= c <= high for c in window.values()), f"window {n}: {dict(window)}"
