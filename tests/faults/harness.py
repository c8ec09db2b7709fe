"""The fault tests' harness (docs: /work/shared/reference/reliability-anchors.md section 6).

- Fast knobs: lease 2 s (heartbeat every third of it, reaper every half), max_deliveries 3,
  max_retries 3.
- Jobs are `tests.fixture_tasks.job` (or a sibling) whose task id is its ledger tag: every
  execution appends {tag, exec, pid, t} to an external ledger (a Redis list outside the
  queue's keys, on a server the test does not kill).
- After the fault the harness drains the queue and applies Jepsen's total-queue check:
  lost = acknowledged enqueues - tasks in a terminal state (succeeded or dead); duplicates =
  executions beyond the first; "one commit" = exactly one terminal transition in each task's
  history, and a succeeded task's stored result is one of its own recorded executions.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import redis

from queueapp.engine import FairQueue, Task
from queueapp.engine.keys import Keys
from tests.processes import start_command, wait_for, worker_env

LEASE = 2.0  # lease_ttl of the harness (FAIRQUEUE_LEASE_SECONDS)
REAP = min(5.0, LEASE / 2)  # the worker's reap interval (WorkerOptions.reap_interval default), jittered +/-20 %
TERMINAL = ("succeeded", "dead", "failed")
JOB = "tests.fixture_tasks.job"


def fault_env(queue_url: str, prefix: str, ledger_url: str, ledger_key: str, **extra) -> dict[str, str]:
    """Worker environment with the harness's fast knobs; the ledger on `ledger_url`."""
    knobs = {
        "FAIRQUEUE_LEASE_SECONDS": LEASE,
        "FAIRQUEUE_MAX_DELIVERIES": 3,
        "FAIRQUEUE_MAX_RETRIES": 3,
        "FAIRQUEUE_RETRY_BASE": 0.1,
        "FAIRQUEUE_RETRY_CAP": 0.2,
        "FQ_LEDGER_URL": ledger_url,
        **extra,
    }
    return worker_env(queue_url, prefix, ledger=ledger_key, **knobs)


def jobs(name: str, n: int, tenants: int, ms: int = 0, **kwargs) -> list[Task]:
    """n ledger jobs spread round-robin over `tenants` tenants; task id == ledger tag."""
    width = len(str(n))
    out = []
    for i in range(n):
        tag = f"{name}-{i:0{width}d}"
        out.append(Task(JOB, args=[tag, ms], kwargs=kwargs, user=f"{name}-u{i % tenants}", id=tag))
    return out


# -- the ledger -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Execution:
    tag: str
    exec: str
    pid: int
    t: float  # wall clock at the start of the execution


class Ledger:
    def __init__(self, client: redis.Redis, key: str) -> None:
        self.client = client
        self.key = key

    def executions(self) -> dict[str, list[Execution]]:
        by_tag: dict[str, list[Execution]] = defaultdict(list)
        for raw in self.client.lrange(f"{self.key}:execs", 0, -1):
            e = json.loads(raw)
            by_tag[e["tag"]].append(Execution(e["tag"], e["exec"], e["pid"], e["t"]))
        return by_tag

    def count(self) -> int:
        return self.client.llen(f"{self.key}:execs")

    def runs(self, tag: str) -> int:
        return int(self.client.hget(f"{self.key}:runs", tag) or 0)

    def finished(self) -> list[dict]:
        return [json.loads(raw) for raw in self.client.lrange(f"{self.key}:finished", 0, -1)]


# -- the queue's records, read directly -------------------------------------------------------
@dataclass
class Record:
    id: str
    state: str | None
    user: str | None = None
    deliveries: int = 0
    failures: int = 0
    worker: str | None = None
    dead_reason: str | None = None
    result: dict | None = None
    history: list[dict] = field(default_factory=list)
    payload: str | None = None
    error: dict | None = None


FIELDS = ("state", "user", "deliveries", "failures", "worker", "dead_reason", "result", "history", "payload", "error")


def records(client: redis.Redis, keys: Keys, ids: list[str]) -> dict[str, Record]:
    out: dict[str, Record] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        pipe = client.pipeline(transaction=False)
        for task_id in chunk:
            pipe.hmget(keys.task(task_id), *FIELDS)
        for task_id, values in zip(chunk, pipe.execute(), strict=True):
            v = dict(zip(FIELDS, values, strict=True))
            result = json.loads(v["result"]) if v["result"] else None
            out[task_id] = Record(
                id=task_id,
                state=v["state"],
                user=v["user"],
                deliveries=int(v["deliveries"] or 0),
                failures=int(v["failures"] or 0),
                worker=v["worker"],
                dead_reason=v["dead_reason"],
                result=result if isinstance(result, dict) else None,
                history=json.loads(f"[{v['history']}]") if v["history"] else [],
                payload=v["payload"],
                error=json.loads(v["error"]) if v["error"] else None,
            )
    return out


def states(client: redis.Redis, keys: Keys, ids: list[str]) -> dict[str, str | None]:
    pipe = client.pipeline(transaction=False)
    for task_id in ids:
        pipe.hget(keys.task(task_id), "state")
    return dict(zip(ids, pipe.execute(), strict=True))


def drain(
    client: redis.Redis, keys: Keys, ids: list[str], timeout: float, what: str = "the queue to drain", idle=True
) -> bool:
    """Wait until every id whose record exists is terminal and (idle) nothing is leased. Returns
    False on timeout (the tally then shows what is missing) instead of raising."""

    def drained():
        found = states(client, keys, ids)
        finished = all(s is None or s in TERMINAL for s in found.values())
        return finished and (not idle or client.zcard(keys.running()) == 0)

    try:
        wait_for(drained, timeout=timeout, interval=0.25, what=what)
        return True
    except AssertionError:
        return False


# -- the check ------------------------------------------------------------------------------
@dataclass
class Tally:
    name: str
    enqueued: int
    succeeded: int
    dead: int
    lost: int
    duplicates: int  # executions beyond the first, over all jobs
    lost_ids: list[str]
    executions: dict[str, list[Execution]]
    records: dict[str, Record]
    commit_problems: list[str]

    @property
    def duplicated(self) -> dict[str, int]:
        """tag -> number of executions, for jobs executed more than once."""
        return {tag: len(ex) for tag, ex in self.executions.items() if len(ex) > 1}

    def line(self) -> str:
        return (
            f"{self.name} tally: enqueued={self.enqueued} succeeded={self.succeeded} dead={self.dead} "
            f"lost={self.lost} duplicates={self.duplicates}"
        )

    def assert_ok(self) -> None:
        """lost = 0 and one commit per job."""
        assert self.lost == 0, f"{self.name}: lost {self.lost} job(s), e.g. {self.lost_ids[:10]}"
        assert not self.commit_problems, f"{self.name}: not one commit per job: {self.commit_problems[:10]}"


def tally(name: str, client: redis.Redis, keys: Keys, ids: list[str], ledger: Ledger) -> Tally:
    recs = records(client, keys, ids)
    all_execs = ledger.executions()
    execs = {tag: all_execs.get(tag, []) for tag in ids}
    succeeded = [i for i in ids if recs[i].state == "succeeded"]
    dead = [i for i in ids if recs[i].state in ("dead", "failed")]
    lost_ids = [i for i in ids if recs[i].state not in TERMINAL]
    problems = []
    for task_id in succeeded + dead:
        rec = recs[task_id]
        # a dead letter requeued by an operator starts a new life: count commits since then
        start = max((n for n, h in enumerate(rec.history) if h.get("reason") == "requeued"), default=-1)
        terminal = [h for h in rec.history[start + 1 :] if h.get("state") in TERMINAL]
        if len(terminal) != 1:
            problems.append(f"{task_id}: {len(terminal)} terminal transitions in its history")
        committed = rec.result.get("exec") if rec.state == "succeeded" and rec.result else None
        if committed and committed not in {e.exec for e in execs[task_id]}:
            problems.append(f"{task_id}: committed result {rec.result['exec']} is none of its executions")
    result = Tally(
        name=name,
        enqueued=len(ids),
        succeeded=len(succeeded),
        dead=len(dead),
        lost=len(ids) - len(succeeded) - len(dead),
        duplicates=sum(max(0, len(e) - 1) for e in execs.values()),
        lost_ids=lost_ids,
        executions=execs,
        records=recs,
        commit_problems=problems,
    )
    print(result.line(), flush=True)
    return result


def note(name: str, message: str) -> None:
    """What the test injected and observed, printed for `pytest -s`."""
    print(f"{name}: {message}", flush=True)


# -- worker processes -------------------------------------------------------------------------
@dataclass
class WorkerProc:
    worker_id: str
    proc: subprocess.Popen
    log: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Workers:
    """`manage.py runworker` processes of one test; the fixture kills what is left at teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.all: list[WorkerProc] = []

    def start(self, env: dict[str, str], worker_id: str, *args: str, concurrency: int = 1) -> WorkerProc:
        log = self.tmp_path / f"worker-{worker_id}-{len(self.all)}.log"
        proc = start_command(
            env, "runworker", "--worker-id", worker_id, "--concurrency", str(concurrency), *args, log=log
        )
        wp = WorkerProc(worker_id, proc, log)
        self.all.append(wp)
        return wp

    def kill_all(self) -> None:
        for wp in self.all:
            if wp.alive():
                wp.proc.kill()
                wp.proc.wait(10)


def wait_ready(queue: FairQueue, *procs: WorkerProc, timeout: float = 60.0) -> None:
    """Until each worker process has sent a heartbeat report carrying its own pid."""

    def ready():
        reports = {w.worker: w for w in queue.workers()}
        for wp in procs:
            if not wp.alive():
                raise AssertionError(f"worker {wp.worker_id} exited early:\n{wp.output()[-3000:]}")
            report = reports.get(wp.worker_id)
            if report is None or report.pid != wp.pid:
                return False
        return True

    wait_for(ready, timeout=timeout, what="workers to report in")
