"""Workflows in the engine (sans-IO, like core.py and reads.py, which inherit these):
a pipeline run pushed in one script call, its cancellation, XCom values, and the
reads the dashboard shows (runs, a run's tasks, what a task waits on and blocks).

Dependencies themselves are fields of the task (``depends_on``) handled by the push
and ack scripts (lua/lib/deps.lua); nothing here is on the worker's hot path.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .call import Call, Plan, command
from .config import EngineConfig
from .errors import InvalidTask, TaskNotFound
from .keys import Keys
from .lease import PushResult
from .task import Task, check_name, encode_json

TENANT_SCOPE = "-"  # the XCom namespace of values pushed outside any pipeline run
_XCOM_KEY = re.compile(r"[A-Za-z0-9_.@+=-]{1,128}")  # no ':' (namespaces are split on it)
_RUN_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")  # no ':' nor '|': pipe:<run> never meets pipe:tasks:<run>
XCOM_TTL_MAX = 366 * 86_400
PIPELINE_MAX = 10_000  # tasks per run: one script call must stay short


@dataclass(frozen=True, slots=True)
class PipelineRun:
    """A pipeline run as stored: counts of its tasks' terminal states, and its tasks."""

    id: str
    user: str
    name: str
    total: int
    done: int
    counts: dict[str, int]
    created_at: int | None
    finished_at: int | None
    task_ids: list[str] = field(default_factory=list)
    steps: dict[str, str] = field(default_factory=dict)  # step name -> task id

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    @classmethod
    def from_fields(cls, f: dict[str, str]) -> PipelineRun:
        def num(name: str) -> int:
            value = f.get(name, "")
            return int(value) if value.lstrip("-").isdigit() else 0

        return cls(
            id=f.get("id", ""),
            user=f.get("user", ""),
            name=f.get("name", ""),
            total=num("total"),
            done=num("done"),
            counts={k: num(k) for k in ("succeeded", "dead", "failed", "cancelled", "deleted")},
            created_at=num("created_at") or None,
            finished_at=num("finished_at") or None,
        )


@dataclass(frozen=True, slots=True)
class WaitingRepair:
    released: int  # tasks whose dependencies had all succeeded
    crossed_off: int  # succeeded dependencies removed from waiting sets
    stale: int  # waiting-set entries whose record was not waiting
    missing: int  # tasks still waiting on a dependency whose record is gone

    @property
    def changed(self) -> bool:
        return bool(self.released or self.crossed_off or self.stale)


def check_run_id(run: str) -> str:
    if not isinstance(run, str) or not _RUN_ID.fullmatch(run):
        raise InvalidTask(f"pipeline run id {run!r} is not valid: use 1-128 letters, digits or _.- characters")
    return run


def check_xcom_key(key: str) -> str:
    if not isinstance(key, str) or not _XCOM_KEY.fullmatch(key):
        raise InvalidTask(f"XCom key {key!r} is not valid: use 1-128 letters, digits or _.@+=- characters")
    return key


def xcom_decode(stored: str | None, now_ms: int) -> tuple[bool, Any]:
    """(found, value) of a stored "<expires ms>|<JSON>" text; an expired or broken one is not found."""
    if not stored:
        return False, None
    deadline, _, text = stored.partition("|")
    if not deadline.isdigit() or int(deadline) <= now_ms:
        return False, None
    try:
        return True, json.loads(text)
    except ValueError:
        return False, None


class WorkflowWrites:
    config: EngineConfig
    keys: Keys
    _script: Callable[..., Call[Any]]
    _push_doc: Callable[[Task], dict[str, Any]]
    _push_call: Callable[..., Call[list[PushResult]]]

    def push_pipeline(self, run: str, user: str, name: str, tasks: Sequence[Task]) -> Plan[list[PushResult]]:
        """Every task of one run in one script call (atomic: all or, on an unknown dependency,
        nothing). `tasks` come in topological order: a task's dependencies before it."""
        check_run_id(run)
        check_name("user", user)
        if not tasks:
            raise InvalidTask("a pipeline needs at least one task")
        if len(tasks) > PIPELINE_MAX:
            raise InvalidTask(f"a pipeline holds at most {PIPELINE_MAX} tasks, got {len(tasks)}")
        docs = [self._push_doc(t) for t in tasks]
        for doc in docs:
            doc["pipeline"] = run  # whatever the tasks said: they are this run's
        meta = {"id": run, "user": user, "name": name[:200], "ttl": self.config.result_ttl}
        pushed: list[PushResult] = yield self._push_call(docs, meta)
        return pushed

    def cancel_pipeline(self, run: str) -> Plan[int]:
        """Cancel every task of the run that has not started; returns how many."""

        def parse(reply: list[Any]) -> int:
            if reply and reply[0] == "not_found":
                raise TaskNotFound(f"no pipeline run {run!r} (never created, or expired)")
            return int(reply[0])

        cancelled: int = yield self._script("pipeline_cancel", {"id": check_run_id(run)}, parse)
        return cancelled

    def xcom_push(self, user: str, ns: str, key: str, value: Any, ttl: int, max_bytes: int) -> Plan[None]:
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= XCOM_TTL_MAX:
            raise InvalidTask(f"XCom ttl must be a whole number of seconds from 1 to {XCOM_TTL_MAX}, got {ttl!r}")
        if ns != TENANT_SCOPE:
            check_run_id(ns)
        text = encode_json(value, f"XCom value for {key!r}")
        if len(text.encode()) > max_bytes:
            raise InvalidTask(f"XCom value for {key!r} is {len(text.encode())} bytes of JSON; the limit is {max_bytes}")
        params = {"ns": ns, "user": check_name("user", user), "key": check_xcom_key(key), "value": text, "ttl": ttl}
        yield self._script("xcom_push", params, lambda r: None)

    def repair_waiting(self, dry_run: bool, batch: int) -> Plan[WaitingRepair]:
        """Release what a lost release left waiting (see lua/repair_waiting.lua), in batches."""
        offset, totals = 0, [0, 0, 0, 0, 0]
        while True:
            params = {"offset": offset, "limit": batch, "dry_run": dry_run}
            found = yield self._script("repair_waiting", params, lambda r: [int(x) for x in r])
            totals = [a + b for a, b in zip(totals, found, strict=True)]
            if found[0] < batch:
                return WaitingRepair(*totals[1:])
            # released and stale entries left the set: the next batch starts that much earlier
            offset += batch - (0 if dry_run else found[1] + found[3])

    def xcom_clear(self, user: str) -> Plan[int]:
        """Delete the tenant's XCom values (its own scope and every run's): tenant purge."""
        runs = yield command("ZRANGE", self.keys.pipelines_user(check_name("user", user)), 0, -1)
        keys = [self.keys.xcom(TENANT_SCOPE, user)] + [self.keys.xcom(r, user) for r in runs]
        deleted = 0
        for i in range(0, len(keys), 500):
            deleted += yield command("DEL", *keys[i : i + 500])
        return int(deleted)


class WorkflowReads:
    keys: Keys

    def pipeline(self, run: str) -> Plan[PipelineRun | None]:
        k = self.keys
        info, ids, steps = yield [
            command("HGETALL", k.pipeline(run)),
            command("LRANGE", k.pipeline_tasks(run), 0, PIPELINE_MAX - 1),
            command("HGETALL", k.pipeline_steps(run)),
        ]
        if not info:
            return None
        return replace(PipelineRun.from_fields(info), task_ids=list(ids), steps=dict(steps))

    def pipelines(self, offset: int, limit: int, user: str | None) -> Plan[tuple[list[PipelineRun], int]]:
        """Runs newest first, and how many the index lists (runs whose keys expired are left out)."""
        key = self.keys.pipelines_user(user) if user else self.keys.pipelines()
        total, ids = yield [command("ZCARD", key), command("ZREVRANGE", key, offset, offset + limit - 1)]
        if not ids:
            return [], int(total)
        rows = yield [command("HGETALL", self.keys.pipeline(i)) for i in ids]
        return [PipelineRun.from_fields(r) for r in rows if r], int(total)

    def task_states(self, ids: Sequence[str]) -> Plan[dict[str, str | None]]:
        if not ids:
            return {}
        states = yield [command("HGET", self.keys.task(i), "state") for i in ids]
        return dict(zip(ids, states, strict=True))

    def dependency_links(self, task_id: str) -> Plan[tuple[list[str], list[str]]]:
        """(the ids it still waits on, the ids waiting on it)."""
        waits, blocks = yield [
            command("SMEMBERS", self.keys.deps_waiting(task_id)),
            command("SMEMBERS", self.keys.deps_blocked(task_id)),
        ]
        return sorted(waits), sorted(blocks)

    def index_ids(self, index: str, user: str | None, limit: int) -> Plan[list[str]]:
        """Task ids in one of the indexes the Tasks page browses, in its natural order:
        running (lease deadline), delayed and waiting (due / enqueue time), dead (newest
        first), queued and recent (a tenant's lanes in serve order, its last finished)."""
        k = self.keys
        if index == "queued":
            assert user
            ids = list((yield command("LRANGE", k.crit(user), 0, limit - 1)))
            if len(ids) < limit:
                ids += yield command("ZRANGE", k.norm(user), 0, limit - len(ids) - 1)
            return ids
        if index == "recent":
            assert user
            return list((yield command("LRANGE", k.recent(user), 0, limit - 1)))
        if index == "dead":
            key = k.dlq_user(user) if user else k.dlq()
            return list((yield command("ZREVRANGE", key, 0, limit - 1)))
        key = {"running": k.running(), "delayed": k.delayed(), "waiting": k.waiting()}[index]
        return list((yield command("ZRANGE", key, 0, limit - 1)))

    def tenants_by(self, index: str, limit: int) -> Plan[list[str]]:
        """Tenants with a backlog (largest first), or every tenant seen (newest first)."""
        key = self.keys.backlog() if index == "backlog" else self.keys.tenants()
        return list((yield command("ZREVRANGE", key, 0, limit - 1)))

    def xcom_pull(self, user: str, ns: str, key: str) -> Plan[tuple[bool, Any]]:
        stored = yield command("HGET", self.keys.xcom(ns, user), check_xcom_key(key))
        return xcom_decode(stored, int(time.time() * 1000))

    def xcom_values(self, user: str, ns: str) -> Plan[dict[str, Any]]:
        stored = yield command("HGETALL", self.keys.xcom(ns, user))
        now = int(time.time() * 1000)
        out = {}
        for key, text in sorted(stored.items()):
            found, value = xcom_decode(text, now)
            if found:
                out[key] = value
        return out
