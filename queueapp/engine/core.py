"""Sans-IO core: builds every operation as a Call (script, keys, params, parser)
and parses replies. No I/O here: FairQueue (sync) and AsyncFairQueue only
execute what this returns.

Operations that need more than one step are plans: generators that yield a
Call (or a list of Calls, run as one pipeline) and receive its parsed reply.
"""

from __future__ import annotations

import json
import random
import secrets
import traceback as tb
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .config import EngineConfig
from .errors import ConfigError, InvalidState, InvalidTask, StaleLease, TaskNotFound
from .lease import Broken, FailOutcome, Lease, PushResult, Repair
from .reads import ReadPlans
from .task import Task, check_name, encode_json

Plan = Generator[Any, Any, Any]

STATUS_ERRORS: dict[str, type[Exception]] = {
    "stale": StaleLease,
    "not_found": TaskNotFound,
    "invalid_state": InvalidState,
}
MAX_BROKEN_PER_POP = 16


@dataclass(frozen=True, slots=True)
class Call:
    script: str | None  # lua/<script>.lua, or None for a plain Redis command
    args: tuple  # script: (ARGV[1] JSON,); command: the command words
    parse: Callable[[Any], Any]
    keys: tuple = ()


def raise_for(status: str, what: str) -> None:
    if status != "ok":
        raise STATUS_ERRORS.get(status, InvalidState)(f"{what}: {status}")


def error_info(exc: BaseException | None, message: str | None = None) -> dict[str, str]:
    """{type, message, traceback} of an exception, JSON-safe."""
    if exc is None:
        return {"type": "", "message": message or "", "traceback": ""}
    cls = type(exc)
    return {
        "type": f"{cls.__module__}.{cls.__qualname__}",
        "message": message or str(exc),
        "traceback": "".join(tb.format_exception(exc))[-16_000:],
    }


def _pairs(flat: Sequence[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


class Core(ReadPlans):
    def __init__(self, config: EngineConfig, owner: Any = None, rng: random.Random | None = None):
        self.config = config
        self.keys = config.keys
        self.owner = owner  # put on every Lease so lease.ack() reaches the right client
        self.rng = rng or random.Random()
        self._root = (config.prefix,)

    def _script(self, name: str, params: dict, parse: Callable[[Any], Any]) -> Call:
        return Call(name, (json.dumps(params, separators=(",", ":")),), parse, self._root)

    # -- push -------------------------------------------------------------
    def push_calls(self, tasks: Iterable[Task]) -> list[Call]:
        """One push call per chunk of tasks; each parses to a list of PushResult."""
        cfg = self.config
        docs = [
            t.push_doc(
                max_payload=cfg.max_payload_bytes,
                result_ttl=cfg.result_ttl,
                max_retries=cfg.max_retries,
                max_deliveries=cfg.max_deliveries,
            )
            for t in tasks
        ]
        size = cfg.batch_chunk
        return [self._push_call(docs[i : i + size]) for i in range(0, len(docs), size)]

    def _push_call(self, docs: list[dict]) -> Call:
        ids = [d["id"] for d in docs]

        def parse(reply: list[str]) -> list[PushResult]:
            if reply and reply[0] == "unknown_tenant":
                raise InvalidTask(
                    f"tenant {reply[1]!r} is not registered: add it first "
                    "(REQUIRE_REGISTERED_TENANTS is on); nothing of this batch was enqueued"
                )
            return [PushResult(i, s == "created") for i, s in zip(ids, reply, strict=True)]

        params = {
            "aging_ms": self.config.aging_ms,
            "tasks": docs,
            "require_registered": self.config.require_registered_tenants,
        }
        return self._script("push", params, parse)

    # -- pop / ack --------------------------------------------------------
    def _lease_ms(self, lease_seconds: float | None) -> int:
        if lease_seconds is None:
            return self.config.lease_ms
        if not lease_seconds > 0:
            raise ValueError(f"lease_seconds must be > 0, got {lease_seconds!r}")
        return int(lease_seconds * 1000)

    def _pop_params(self, worker: str, lease_seconds: float | None) -> dict:
        lease_ms = self._lease_ms(lease_seconds)
        return {
            "worker": worker,
            "token": secrets.token_hex(8),
            "lease_ms": lease_ms,
            "max_payload": self.config.max_payload_bytes,
        }

    def _lease_from(self, reply: list[str], params: dict) -> Lease | Broken | None:
        status = reply[0]
        if status == "empty":
            return None
        if status == "disabled":
            return None
        fields = _pairs(reply[1:])
        try:
            task = Task.from_fields(fields)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            return Broken(fields.get("id", "?"), params["token"], "decode_error", repr(exc))
        return Lease(task, params["token"], params["worker"], self.owner)

    def pop_call(self, worker: str, lease_seconds: float | None = None) -> Call:
        check_name("worker id", worker)
        p = self._pop_params(worker, lease_seconds)
        return self._script("pop", p, lambda r: self._lease_from(r, p))

    def pop(self, worker: str, lease_seconds: float | None = None) -> Plan:
        lease = yield self.pop_call(worker, lease_seconds)
        return (yield from self._skip_broken(lease, worker, lease_seconds))

    def _skip_broken(self, lease: Any, worker: str, lease_seconds: float | None) -> Plan:
        """Dead-letter records Python cannot decode and pop again (bounded)."""
        for attempt in range(MAX_BROKEN_PER_POP):
            if not isinstance(lease, Broken):
                return lease
            yield self._fail_call(
                lease.id,
                lease.token,
                error_info(None, lease.detail),
                retry=False,
                reason=lease.reason,
                delay_ms=0,
                tolerant=True,
            )
            if attempt + 1 < MAX_BROKEN_PER_POP:
                lease = yield self.pop_call(worker, lease_seconds)
        return None

    def ack_call(self, lease: Lease, result: Any = None) -> Call:
        params = self._ack_params(lease, result)
        return self._script("ack", params, lambda r: raise_for(r[0], f"ack {lease.id}"))

    def _ack_params(self, lease: Lease, result: Any) -> dict:
        return {"id": lease.id, "token": lease.token, "result": encode_json(result, "result")}

    def ack_and_pop(self, lease: Lease, result: Any = None, lease_seconds: float | None = None) -> Plan:
        """Ack `lease` and lease the next task for the same worker in one call."""
        pop = self._pop_params(lease.worker, lease_seconds)
        params = {"ack": self._ack_params(lease, result), "pop": pop}

        def parse(reply: list[str]) -> Any:
            raise_for(reply[0], f"ack {lease.id}")
            return self._lease_from(reply[1:], pop)

        nxt = yield self._script("ack_pop", params, parse)
        return (yield from self._skip_broken(nxt, lease.worker, lease_seconds))

    # -- fail / release / heartbeat ---------------------------------------
    def fail_call(
        self,
        lease: Lease,
        exc: BaseException | None = None,
        *,
        retry: bool = True,
        reason: str = "error",
        message: str | None = None,
    ) -> Call:
        delay = self.config.retry.delay(lease.task.failures + 1, self.rng)
        return self._fail_call(
            lease.id, lease.token, error_info(exc, message), retry=retry, reason=reason, delay_ms=int(delay * 1000)
        )

    def _fail_call(
        self, task_id: str, token: str, error: dict, *, retry: bool, reason: str, delay_ms: int, tolerant: bool = False
    ) -> Call:
        params = {
            "id": task_id,
            "token": token,
            "error": json.dumps(error),
            "retry": retry,
            "reason": reason,
            "retry_delay_ms": delay_ms,
        }

        def parse(reply: list) -> FailOutcome:
            if reply[0] == "retry":
                return FailOutcome("retry", reason, int(reply[1]))
            if reply[0] in ("dead", "failed"):
                return FailOutcome(reply[0], reply[1])
            if not tolerant:
                raise_for(reply[0], f"fail {task_id}")
            return None

        return self._script("fail", params, parse)

    def release_call(self, lease: Lease) -> Call:
        params = {"id": lease.id, "token": lease.token}
        return self._script("release", params, lambda r: raise_for(r[0], f"release {lease.id}"))

    def heartbeat_call(
        self,
        worker: str,
        leases: Iterable[Lease],
        info: dict | None = None,
        lease_seconds: float | None = None,
        info_ttl: int = 60,
    ) -> Call:
        """Renew leases; parses to the ids this worker no longer holds."""
        lease_ms = self._lease_ms(lease_seconds)
        params: dict[str, Any] = {
            "worker": worker,
            "lease_ms": lease_ms,
            "info_ttl": info_ttl,
            "leases": [[le.id, le.token] for le in leases] or {},
        }
        if info is not None:
            params["info"] = info
        return self._script("heartbeat", params, lambda r: list(r[1:]))

    # -- maintenance ------------------------------------------------------
    def reap_call(self, limit: int | None = None) -> Call:
        """Expired leases back to their lanes (or DLQ); parses to (requeued, dead_lettered)."""
        params = {"limit": limit or self.config.reap_limit}
        return self._script("reap", params, lambda r: (int(r[0]), int(r[1])))

    def promote_call(self, limit: int | None = None) -> Call:
        params = {"limit": limit or self.config.promote_limit, "aging_ms": self.config.aging_ms}
        return self._script("promote", params, int)

    def repair_ready(self, *, dry_run: bool = False, batch: int = 500) -> Plan:
        """Make ready again every tenant whose lanes hold work but that a ready set misses, and set
        backlog counters and queued gauges from the lanes (bounded batches over every tenant seen)."""
        after, totals = "", [0, 0, 0, 0]
        while True:
            params = {"after": after, "limit": batch, "dry_run": dry_run}
            after, *found = yield self._script("repair_ready", params, lambda r: [r[0], *map(int, r[1:])])
            totals = [a + b for a, b in zip(totals, found, strict=True)]
            if not after:
                return Repair(*totals)

    # -- operator actions -------------------------------------------------
    def cancel_call(self, task_id: str) -> Call:
        def parse(reply: list[str]) -> None:
            if reply[0] == "invalid_state":
                raise InvalidState(f"task {task_id} is {reply[1]}: only queued or deferred tasks can be cancelled")
            raise_for(reply[0], f"cancel {task_id}")

        return self._script("cancel", {"id": task_id}, parse)

    def dlq_requeue_call(self, ids: Sequence[str]) -> Call:
        """Parses to (requeued count, ids skipped because not dead)."""
        params = {"ids": list(ids) or {}, "aging_ms": self.config.aging_ms}
        return self._script("dlq_requeue", params, lambda r: (int(r[0]), list(r[1:])))

    def dlq_delete_call(self, ids: Sequence[str]) -> Call:
        return self._script("dlq_delete", {"ids": list(ids) or {}}, lambda r: (int(r[0]), list(r[1:])))

    # -- configuration ----------------------------------------------------
    def worker_config_call(
        self,
        worker: str,
        *,
        assigned: Iterable[str] = (),
        steal: Iterable[str] = (),
        enabled: bool = True,
        extra: dict | None = None,
    ) -> Call:
        check_name("worker id", worker)
        assigned_l = [check_name("assigned user", u) for u in dict.fromkeys(assigned)]
        steal_l = list(dict.fromkeys(steal))
        steal_all = "*" in steal_l
        steal_l = [check_name("steal target", u) for u in steal_l if u != "*"]
        both = set(assigned_l) & set(steal_l)
        if both:
            raise ConfigError(f"worker {worker}: {sorted(both)} cannot be both assigned and a steal target")
        params = {
            "worker": worker,
            "assigned": assigned_l or {},
            "steal": steal_l or {},
            "steal_all": steal_all,
            "enabled": enabled,
            "extra": extra or {},
        }
        return self._script("config_apply", params, lambda r: None)

    def delete_worker_config_call(self, worker: str) -> Call:
        return self._script("config_apply", {"worker": worker, "delete": True}, lambda r: None)

    def tenant_call(self, user: str, *, weight: float = 1, paused: bool = False, delete: bool = False) -> Call:
        """Register (or, with delete, unregister) a tenant with its weight and paused flag."""
        check_name("user", user)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 1 <= weight <= 1000:
            raise ConfigError(f"weight of {user} must be between 1 and 1000, got {weight}")
        params = {"user": user, "weight": weight, "paused": paused, "delete": delete}
        return self._script("tenant_apply", params, lambda r: None)

    def schedule_apply_call(self, name: str, config: dict[str, str] | None) -> Call:
        """Store a schedule's configuration (string values), or delete it when config is None."""
        check_name("schedule name", name)
        params = {"name": name, "delete": True} if config is None else {"name": name, "config": config}
        return self._script("schedule_apply", params, lambda r: None)

    def schedule_fire_call(
        self, name: str, fires: list[tuple[str, int, Task]], next_ms: int | None, skipped: int, key_ttl_ms: int
    ) -> Call:
        """Enqueue due fires (each once per fire key) and move the schedule on; parses to (fired, duplicates).
        Fires for unregistered tenants are refused when REQUIRE_REGISTERED_TENANTS is on (logged)."""
        cfg = self.config
        docs = [
            {
                "key": key,
                "at_ms": at_ms,
                "task": task.push_doc(
                    max_payload=cfg.max_payload_bytes,
                    result_ttl=cfg.result_ttl,
                    max_retries=cfg.max_retries,
                    max_deliveries=cfg.max_deliveries,
                ),
            }
            for key, at_ms, task in fires
        ]
        params = {
            "name": name,
            "fires": docs or {},
            "skipped": skipped,
            "key_ttl_ms": key_ttl_ms,
            "aging_ms": cfg.aging_ms,
            "require_registered": cfg.require_registered_tenants,
        }
        if next_ms is not None:
            params["next_ms"] = next_ms

        def parse(reply: list) -> tuple[int, int]:
            if int(reply[2]):
                raise InvalidTask(
                    f"schedule {name}: tenant not registered (REQUIRE_REGISTERED_TENANTS is on), "
                    f"{reply[2]} fire(s) refused"
                )
            return int(reply[0]), int(reply[1])

        return self._script("schedule_fire", params, parse)

    def mark_synced_call(self) -> Call:
        return self._cmd("SET", self.keys.synced(), "1")

    def purge(
        self, user: str, reason: str = "purged", *, batch: int = 200, progress: Callable[[int], None] | None = None
    ) -> Plan:
        """Move a tenant's queued and deferred tasks to the DLQ with `reason`, in bounded batches."""
        check_name("user", user)
        moved = 0
        while n := (yield self._script("purge", {"user": user, "reason": reason, "limit": batch}, int)):
            moved += n
            if progress:
                progress(moved)
        offset = 0
        while ids := (yield self._cmd("ZRANGE", self.keys.delayed(), offset, offset + batch - 1)):
            users = yield [self._cmd("HGET", self.keys.task(i), "user") for i in ids]
            mine = [i for i, u in zip(ids, users, strict=True) if u == user]
            n = (
                (yield self._script("purge", {"user": user, "reason": reason, "limit": 0, "ids": mine}, int))
                if mine
                else 0
            )
            moved += n
            offset += len(ids) - n
            if progress and n:
                progress(moved)
        return moved

    # -- bulk dead-letter actions ------------------------------------------
    def dlq_matching(
        self,
        action: str,
        *,
        user: str | None = None,
        func: str | None = None,
        batch: int = 200,
        progress: Callable[[int], None] | None = None,
    ) -> Plan:
        """Requeue or delete every dead letter of `user` and/or task path `func`, in bounded batches.

        Returns how many were handled; `progress(done)` is called after each batch.
        """
        build = {"requeue": self.dlq_requeue_call, "delete": self.dlq_delete_call}[action]
        done = offset = 0
        while True:
            ids = yield from self.dead_letter_ids(offset, batch, user)
            if not ids:
                return done
            chosen = ids
            if func:
                funcs = yield [self._cmd("HGET", self.keys.task(i), "func") for i in ids]
                chosen = [i for i, f in zip(ids, funcs, strict=True) if f == func]
            handled, skipped = (yield build(chosen)) if chosen else (0, [])
            done += handled
            offset += len(ids) - handled
            if progress:
                progress(done)
