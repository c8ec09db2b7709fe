"""Sans-IO core: every write operation as a Call or a Plan (see call.py), with
the parsing of its reply. No I/O here: FairQueue and AsyncFairQueue run what
this returns, through the one surface declared in operations.py.

Reads live in reads.py and fairness.py, composed here as `core.reads` and
`core.fairness`; all three build their calls with call.script / call.command.
"""

from __future__ import annotations

import json
import random
import secrets
import traceback as tb
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .bulk import BulkWrites
from .call import Call, Plan, once, script
from .config import EngineConfig
from .config_writes import ConfigWrites
from .errors import InvalidState, InvalidTask, StaleLease, TaskNotFound
from .fairness import Fairness
from .lease import Ack, Broken, Exchange, FailOutcome, Lease, PushResult, Repair
from .reads import Reads
from .settings import WorkerReport
from .task import Task, check_name, encode_json, encode_payload
from .workflows import WorkflowWrites

STATUS_ERRORS: dict[str, type[Exception]] = {
    "stale": StaleLease,
    "not_found": TaskNotFound,
    "invalid_state": InvalidState,
}
MAX_BROKEN_PER_POP = 16  # undecodable records dead-lettered by one pop before it gives up
TRACEBACK_CHARS = 16_000  # the tail of a traceback kept in the task record


def raise_for(status: str, what: str) -> None:
    if status != "ok":
        raise STATUS_ERRORS.get(status, InvalidState)(f"{what}: {status}")


def hold_due(reply: list[Any], at: int) -> float | None:
    """Seconds until the earliest hold ends, from an empty pop's reply (lib/limits empty_reply)."""
    try:
        return max(0.0, float(reply[at]) / 1000) if len(reply) > at else None
    except (TypeError, ValueError):
        return None


def error_info(exc: BaseException | None, message: str | None = None) -> dict[str, str]:
    """{type, message, traceback} of an exception, JSON-safe."""
    if exc is None:
        return {"type": "", "message": message or "", "traceback": ""}
    cls = type(exc)
    return {
        "type": f"{cls.__module__}.{cls.__qualname__}",
        "message": message or str(exc),
        "traceback": "".join(tb.format_exception(exc))[-TRACEBACK_CHARS:],
    }


class Core(ConfigWrites, WorkflowWrites, BulkWrites):
    """Every write operation; the configuration and schedule writes come from ConfigWrites, the
    pipeline and XCom writes from WorkflowWrites, the DLQ and purge writes from BulkWrites."""

    def __init__(self, config: EngineConfig, owner: Any = None, rng: random.Random | None = None) -> None:
        self.config = config
        self.keys = config.keys
        self.owner = owner  # put on every Lease so lease.ack() reaches the right client
        self.rng = rng or random.Random()
        self.reads = Reads(self.keys)
        self.fairness = Fairness(self.keys)
        # from the last empty pop: seconds until the earliest held tenant (lib/limits) is
        # due, None when none is held; an idle worker sleeps no longer than that
        self.held_due_in: float | None = None

    def _script[T](self, name: str, params: dict[str, Any], parse: Callable[[Any], T]) -> Call[T]:
        return script(name, params, parse, self.config.prefix)

    def _push_doc(self, task: Task) -> dict[str, Any]:
        cfg = self.config
        return task.push_doc(
            max_payload=cfg.max_payload_bytes,
            result_ttl=cfg.result_ttl,
            max_retries=cfg.max_retries,
            max_deliveries=cfg.max_deliveries,
        )

    # -- push -------------------------------------------------------------
    def push_calls(self, tasks: Iterable[Task]) -> list[Call[list[PushResult]]]:
        """One push call per chunk of tasks; each parses to a list of PushResult."""
        return self._chunked([self._push_doc(t) for t in tasks])

    def _chunked(self, docs: list[dict[str, Any]], base: dict[str, Any] | None = None) -> list[Call[list[PushResult]]]:
        size = self.config.batch_chunk
        return [self._push_call(docs[i : i + size], base=base) for i in range(0, len(docs), size)]

    def _push_all(self, calls: list[Call[list[PushResult]]]) -> Plan[list[PushResult]]:
        """All chunks in one pipelined round trip; the results in order."""
        chunks = yield calls
        return [r for chunk in chunks for r in chunk]

    def push_many(self, tasks: Iterable[Task]) -> Plan[list[PushResult]]:
        return (yield from self._push_all(self.push_calls(tasks)))

    def push_each(
        self, task: Task, calls: Sequence[tuple[Sequence[Any], dict[str, Any]]], ids: Sequence[str]
    ) -> Plan[list[PushResult]]:
        """`task` once per (args, kwargs) of `calls`, each with its id from `ids`: the options
        are validated and encoded once, each call adds only its id and payload (a batch of one
        task's calls built no Task per call, and checked the same options once).
        The shared fields travel once per script call ("base"): decoding the params was a
        quarter of a batch push's server time when every task repeated them."""
        base = self._push_doc(task)
        del base["id"], base["payload"]
        max_payload = self.config.max_payload_bytes
        if len(ids) != len(calls):
            raise InvalidTask(f"{len(ids)} ids for {len(calls)} calls")
        docs = [
            {"id": task_id, "payload": encode_payload(args, kwargs, max_payload)}
            for (args, kwargs), task_id in zip(calls, ids, strict=True)
        ]
        return (yield from self._push_all(self._chunked(docs, base)))

    def push(self, task: Task) -> Plan[PushResult]:
        results: list[PushResult] = yield self._push_call([self._push_doc(task)])
        return results[0]

    def _push_call(
        self, docs: list[dict[str, Any]], pipeline: dict[str, Any] | None = None, base: dict[str, Any] | None = None
    ) -> Call[list[PushResult]]:
        ids = [d["id"] for d in docs]

        def parse(reply: list[str]) -> list[PushResult]:
            if reply and reply[0] == "unknown_tenant":
                raise InvalidTask(
                    f"tenant {reply[1]!r} is not registered: add it first "
                    "(REQUIRE_REGISTERED_TENANTS is on); nothing of this push call was enqueued"
                )
            if reply and reply[0] == "unknown_dependency":
                raise InvalidTask(
                    f"task {reply[1]!r} depends on {reply[2]!r}, which is no task (never enqueued, or its "
                    "result expired); nothing of this push call was enqueued (a pipeline is one call; "
                    "push_many sends chunks of BATCH_CHUNK tasks, and earlier chunks stay)"
                )
            return [PushResult(i, s == "created") for i, s in zip(ids, reply, strict=True)]

        params: dict[str, Any] = {
            "aging_ms": self.config.aging_ms,
            "tasks": docs,
            "require_registered": self.config.require_registered_tenants,
        }
        if pipeline is not None:
            params["pipeline"] = pipeline
        if base is not None:
            params["base"] = base
        return self._script("push", params, parse)

    # -- pop / ack --------------------------------------------------------
    def _lease_ms(self, lease_seconds: float | None) -> int:
        if lease_seconds is None:
            return self.config.lease_ms
        if not lease_seconds > 0:
            raise ValueError(f"lease_seconds must be > 0, got {lease_seconds!r}")
        return int(lease_seconds * 1000)

    def _pop_params(self, worker: str, lease_seconds: float | None, token: str | None) -> dict[str, Any]:
        params = {
            "worker": worker,
            "lease_ms": self._lease_ms(lease_seconds),
            "max_payload": self.config.max_payload_bytes,
        }
        if token is not None:  # ack_and_pop_many sends one token per slot instead
            params["token"] = token
        if self.config.fairness == "time":
            params["fair"] = "time"
        return params

    def _lease_from(self, reply: list[str], params: dict[str, Any]) -> Lease | Broken | None:
        if reply[0] in ("empty", "disabled"):
            self.held_due_in = hold_due(reply, 1)
            return None
        return self._lease(reply, 1, params["token"], params["worker"])

    def _lease(self, flat: list[str], start: int, token: str, worker: str) -> Lease | Broken:
        """The lease of a popped record (flat field/value list from `start`), or what cannot be read."""
        fields = dict(zip(flat[start::2], flat[start + 1 :: 2], strict=True))
        try:
            task = Task.from_fields(fields)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            return Broken(fields.get("id", "?"), token, "decode_error", repr(exc))
        return Lease(task, token, worker, self.owner)

    def pop_call(self, worker: str, lease_seconds: float | None) -> Call[Lease | Broken | None]:
        check_name("worker id", worker)
        p = self._pop_params(worker, lease_seconds, secrets.token_hex(8))
        return self._script("pop", p, lambda r: self._lease_from(r, p))

    def pop(self, worker: str, lease_seconds: float | None) -> Plan[Lease | None]:
        lease = yield self.pop_call(worker, lease_seconds)
        return (yield from self._skip_broken(lease, worker, lease_seconds))

    def _skip_broken(
        self, lease: Lease | Broken | None, worker: str, lease_seconds: float | None
    ) -> Plan[Lease | None]:
        """Dead-letter records Python cannot decode and pop again (bounded)."""
        for attempt in range(MAX_BROKEN_PER_POP):
            if not isinstance(lease, Broken):
                return lease
            yield self._broken_call(lease)
            if attempt + 1 < MAX_BROKEN_PER_POP:
                lease = yield self.pop_call(worker, lease_seconds)
        return None

    def _broken_call(self, broken: Broken) -> Call[FailOutcome | None]:
        return self._fail_call(
            broken.id,
            broken.token,
            error_info(None, broken.detail),
            retry=False,
            reason=broken.reason,
            delay_ms=0,
            tolerant=True,
        )

    def ack_call(self, lease: Lease, result: Any) -> Call[None]:
        params = self._ack_params(lease, result)
        return self._script("ack", params, lambda r: raise_for(r[0], f"ack {lease.id}"))

    def ack(self, lease: Lease, result: Any) -> Plan[None]:
        return once(self.ack_call(lease, result))

    def _ack_params(self, lease: Lease, result: Any) -> dict[str, Any]:
        return {"id": lease.id, "token": lease.token, "result": encode_json(result, "result")}

    def ack_and_pop(self, lease: Lease, result: Any, lease_seconds: float | None) -> Plan[Lease | None]:
        """Ack `lease` and lease the next task for the same worker in one call."""
        pop = self._pop_params(lease.worker, lease_seconds, secrets.token_hex(8))
        params = {"ack": self._ack_params(lease, result), "pop": pop}

        def parse(reply: list[str]) -> Lease | Broken | None:
            raise_for(reply[0], f"ack {lease.id}")
            return self._lease_from(reply[1:], pop)

        nxt = yield self._script("ack_and_pop", params, parse)
        return (yield from self._skip_broken(nxt, lease.worker, lease_seconds))

    def ack_and_pop_many(
        self,
        acks: Sequence[Ack],
        worker: str,
        n: int,
        lease_seconds: float | None,
        coroutines: int | None,
    ) -> Plan[Exchange]:
        """Ack `acks` and lease up to `n` tasks for `worker`, in fair order, in one call:
        a worker with many slots makes one round trip per round, not two per task.
        With `coroutines` (free coroutine slots) the `n` slots are thread slots: at most
        n sync and `coroutines` async tasks are leased, none for a slot that is full."""
        check_name("worker id", worker)
        total = n + (coroutines or 0)
        if not 0 <= n <= 1000 or not 0 <= total <= 2000:
            raise ValueError(f"n must be between 0 and 1000 (with coroutines, 2000), got {n!r}, {coroutines!r}")
        pop = self._pop_params(worker, lease_seconds, None)
        base = secrets.token_hex(6)  # lease i's token: base + i in 4 hex digits (Lua makes them)
        params: dict[str, Any] = {
            "acks": [{"id": a.lease.id, "token": a.lease.token, "result": a.result} for a in acks],
            "pop": pop,
            "n": total,
            "token_base": base,
        }
        if coroutines is not None:
            params["room"] = {"s": n, "a": coroutines}

        def parse(reply: list[Any]) -> tuple[list[str], list[Lease | Broken], bool]:
            records = reply[2:] if reply[1] == "ok" else []  # one per token used, in order
            popped = [self._lease(f, 0, f"{base}{i:04x}", worker) for i, f in enumerate(records)]
            self.held_due_in = None if records else hold_due(reply, 2)
            return list(reply[0]), popped, reply[1] == "disabled"

        acked, popped, disabled = yield self._script("ack_and_pop_many", params, parse)
        leases = [p for p in popped if isinstance(p, Lease)]
        broken = [b for b in popped if isinstance(b, Broken)]
        if broken:  # dead-letter what Python cannot decode; the slots stay free for the next round
            yield [self._broken_call(b) for b in broken]
        return Exchange(acked, leases, disabled, self.held_due_in)

    # -- fail / release / heartbeat ---------------------------------------
    def fail_call(
        self,
        lease: Lease,
        exc: BaseException | None,
        *,
        retry: bool = True,
        reason: str = "error",
        message: str | None = None,
    ) -> Call[FailOutcome | None]:
        delay = self.config.retry.delay(lease.task.failures + 1, self.rng)
        return self._fail_call(
            lease.id, lease.token, error_info(exc, message), retry=retry, reason=reason, delay_ms=int(delay * 1000)
        )

    def fail(self, lease: Lease, exc: BaseException | None, **options: Any) -> Plan[FailOutcome | None]:
        return once(self.fail_call(lease, exc, **options))

    def _fail_call(
        self,
        task_id: str,
        token: str,
        error: dict[str, str],
        *,
        retry: bool,
        reason: str,
        delay_ms: int,
        tolerant: bool = False,
    ) -> Call[FailOutcome | None]:
        """Parses to the outcome; None only when `tolerant` and the lease was already gone."""
        params = {
            "id": task_id,
            "token": token,
            "error": json.dumps(error),
            "retry": retry,
            "reason": reason,
            "retry_delay_ms": delay_ms,
        }

        def parse(reply: list[str]) -> FailOutcome | None:
            if reply[0] == "retry":
                return FailOutcome("retry", reason, int(reply[1]))
            if reply[0] in ("dead", "failed"):
                return FailOutcome(reply[0], reply[1])
            if not tolerant:
                raise_for(reply[0], f"fail {task_id}")
            return None

        return self._script("fail", params, parse)

    def release(self, lease: Lease) -> Plan[None]:
        params = {"id": lease.id, "token": lease.token}
        return once(self._script("release", params, lambda r: raise_for(r[0], f"release {lease.id}")))

    def heartbeat_call(
        self, worker: str, leases: Iterable[Lease], report: WorkerReport | None, lease_seconds: float | None
    ) -> Call[list[str]]:
        """Renew leases and store the report; parses to the ids this worker no longer holds."""
        params: dict[str, Any] = {
            "worker": worker,
            "lease_ms": self._lease_ms(lease_seconds),
            "leases": [[le.id, le.token] for le in leases] or {},
        }
        if report is not None:
            params["info"] = report.to_info()
            params["info_ttl"] = report.ttl_seconds
        return self._script("heartbeat", params, lambda r: list(r[1:]))

    def heartbeat(
        self, worker: str, leases: Iterable[Lease], report: WorkerReport | None, lease_seconds: float | None
    ) -> Plan[list[str]]:
        return once(self.heartbeat_call(worker, leases, report, lease_seconds))

    # -- maintenance ------------------------------------------------------
    def reap(self, limit: int | None) -> Plan[tuple[int, int]]:
        """Expired leases back to their lanes (or DLQ); (requeued, dead_lettered)."""
        params = {"limit": limit or self.config.reap_limit}
        return once(self._script("reap", params, lambda r: (int(r[0]), int(r[1]))))

    def promote(self, limit: int | None) -> Plan[int]:
        params = {"limit": limit or self.config.promote_limit, "aging_ms": self.config.aging_ms}
        return once(self._script("promote", params, int))

    def repair_ready(self, dry_run: bool, batch: int) -> Plan[Repair]:
        """Make ready again every tenant whose lanes hold work but that a ready set misses, and set
        backlog counters and queued gauges from the lanes (bounded batches over every tenant seen)."""
        after, totals = "", [0, 0, 0, 0]
        while True:
            params = {"after": after, "limit": batch, "dry_run": dry_run}
            reply = yield self._script("repair_ready", params, lambda r: [r[0], *map(int, r[1:])])
            after, found = reply[0], reply[1:]
            totals = [a + b for a, b in zip(totals, found, strict=True)]
            if not after:
                return Repair(*totals)

    # -- operator actions -------------------------------------------------
    def cancel(self, task_id: str) -> Plan[None]:
        def parse(reply: list[str]) -> None:
            if reply[0] == "invalid_state":
                raise InvalidState(f"task {task_id} is {reply[1]}: only queued or deferred tasks can be cancelled")
            raise_for(reply[0], f"cancel {task_id}")

        return once(self._script("cancel", {"id": task_id}, parse))
