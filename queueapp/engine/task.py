"""The task record: Priority, State, Task, and its one serialization point.

A task is stored as a Redis hash. The caller's arguments travel as one opaque
JSON text (``payload``) that Lua never re-encodes, so numbers keep their
precision and a requeued task's payload stays byte-identical.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

from .errors import InvalidTask

RECORD_VERSION = 1
_RECORD_V = str(RECORD_VERSION)
_NAME = re.compile(r"[A-Za-z0-9_.:@+=-]{1,128}")


class Priority(IntEnum):
    VERY_LOW = 1
    LOW = 2
    NORMAL = 3
    HIGH = 4
    VERY_HIGH = 5
    CRITICAL = 6


class State(StrEnum):
    QUEUED = "queued"
    DEFERRED = "deferred"  # run_after, retry backoff (later: waiting on dependencies)
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # terminal failure of a task created with dead_letter=False
    DEAD = "dead"  # in the dead-letter queue
    CANCELLED = "cancelled"


_STATES = {state.value: state for state in State}
FINISHED_STATES = frozenset({State.SUCCEEDED, State.FAILED, State.DEAD, State.CANCELLED})


def check_name(kind: str, value: str) -> str:
    """Tenant, worker and task ids: 1-128 of letters, digits and ``_.:@+=-``."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidTask(f"{kind} {value!r} is not valid: use 1-128 letters, digits or _.:@+=- characters")
    return value


def check_priority(value: Any) -> Priority:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 6:
        raise InvalidTask(f"priority must be an integer 1..6 (Priority.VERY_LOW..CRITICAL), got {value!r}")
    return Priority(value)


_PRIORITY_TEXT = {int(p): str(int(p)) for p in Priority}


def _priority_text(value: Any) -> str:
    """check_priority's level as stored, without building a Priority for an int or a member
    (True == 1 and 3.0 == 3 are not levels: they go through check_priority, which refuses them)."""
    if value.__class__ is int or value.__class__ is Priority:
        text = _PRIORITY_TEXT.get(value)
        if text is not None:
            return text
    return str(int(check_priority(value)))


MAX_COST_MS = 86_400_000  # a declared cost of more than a day is a mistake


def cost_text(value: Any) -> str:
    """A declared cost as stored: milliseconds of worker time, > 0 and at most a day."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_COST_MS:
        raise InvalidTask(f"cost must be a number of milliseconds, > 0 and <= {MAX_COST_MS}, got {value!r}")
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _cost_value(text: str | None) -> float | None:
    """A stored cost, None when absent or unreadable (a hand edit: the task is charged as measured)."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 < value <= MAX_COST_MS else None


_id_lock = threading.Lock()
_id_last = [0, 0]


def new_task_id() -> str:
    """Time-ordered id (ms + monotonic random, like a ULID): equal scores sort FIFO."""
    ms = time.time_ns() // 1_000_000
    with _id_lock:
        if ms <= _id_last[0]:
            ms, rand = _id_last[0], _id_last[1] + 1
        else:
            rand = int.from_bytes(os.urandom(8)) >> 1
        _id_last[0], _id_last[1] = ms, rand
    return f"{ms:012x}{rand:016x}"


_SCALARS = frozenset({str, int, bool, type(None)})


def _check_json(value: Any, where: str) -> None:
    kind = type(value)
    if kind in _SCALARS:
        return
    if kind is list or kind is tuple:
        for i, item in enumerate(value):
            if type(item) not in _SCALARS:
                _check_json(item, f"{where}[{i}]")
        return
    if kind is dict:
        for k, item in value.items():
            if type(k) is not str:
                raise InvalidTask(f"{where} has key {k!r}: JSON object keys must be strings")
            if type(item) not in _SCALARS:
                _check_json(item, f"{where}[{k!r}]")
        return
    _check_json_slow(value, where)


def _check_json_slow(value: Any, where: str) -> None:
    """Floats and subclasses of the JSON types (IntEnum, OrderedDict, ...)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidTask(f"{where} is {value!r}: NaN and infinity are not JSON")
        return
    if isinstance(value, (bool, int, str)):
        return
    if isinstance(value, (list, tuple)):
        _check_json(list(value), where)
        return
    if isinstance(value, dict):
        _check_json(dict(value), where)
        return
    raise InvalidTask(
        f"{where} is a {type(value).__name__}: task arguments and results must be JSON "
        "(None, bool, int, float, str, list, dict); pass ids, not objects"
    )


def _make_encoder() -> Callable[[Any], str]:
    """json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False), the same
    text, without building a JSONEncoder per call (4 of its 5 µs on a small payload). Values
    are checked by _check_json first, so the C encoder's circular-reference markers are off:
    kept across calls they would outlive an encode that failed."""
    make = getattr(json.encoder, "c_make_encoder", None)  # typeshed does not declare it
    if make is None:  # no _json accelerator
        return json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False).encode
    default = json.JSONEncoder().default  # TypeError "Object of type X is not JSON serializable"
    chunks = make(None, default, json.encoder.encode_basestring, None, ":", ",", False, False, False)
    return lambda value: "".join(chunks(value, 0))


_dumps = _make_encoder()


def encode_json(value: Any, where: str) -> str:
    """Strict JSON text of a value, or InvalidTask naming the offending part."""
    _check_json(value, where)
    return _dumps(value)


def encode_payload(args: Any, kwargs: Any, max_bytes: int) -> str:
    if not isinstance(args, (list, tuple)):
        raise InvalidTask(f"args must be a list, got {type(args).__name__}")
    if not isinstance(kwargs, dict):
        raise InvalidTask(f"kwargs must be a dict, got {type(kwargs).__name__}")
    _check_json(args, "argument['args']")
    _check_json(kwargs, "argument['kwargs']")
    text = _dumps({"args": list(args), "kwargs": kwargs})
    size = len(text) if text.isascii() else len(text.encode())
    if size > max_bytes:
        raise InvalidTask(f"payload is {size} bytes, over the {max_bytes}-byte limit; pass ids, not data")
    return text


@dataclass(slots=True)
class Task:
    """One unit of work.

    Set by the caller: ``func`` (registered task path), ``args``/``kwargs``
    (JSON), ``user`` (the tenant), ``priority``, ``queue``, ``max_retries``
    (exception failures retried), ``max_deliveries`` (leases before a task
    that keeps losing its worker is dead-lettered), ``timeout`` (seconds,
    enforced by the worker), ``run_after`` (epoch ms), ``dead_letter``
    (False: end as ``failed`` instead of entering the DLQ), ``result_ttl``.

    Set by the engine: ``state``, ``enqueued_at``, ``started_at``,
    ``finished_at`` (epoch ms), ``deliveries``, ``failures``, ``worker``,
    ``lease_token``, ``lease_deadline``, ``result`` (JSON text), ``error`` /
    ``errors`` (``{type, message, traceback}``), ``dead_reason`` (also why a task
    was cancelled by the engine: ``dependency_failed``), ``history`` (the last
    three decoded on first use from ``*_text``), ``waiting`` (unmet dependencies).

    Workflows: ``depends_on`` (ids that must succeed first), ``on_dependency_failure``
    (``cancel`` or ``block``), ``pipeline`` and ``step`` (its run and step name).
    """

    func: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    user: str = "default"
    priority: int = Priority.NORMAL
    id: str = field(default_factory=new_task_id)
    queue: str = "default"
    max_retries: int | None = None  # None: EngineConfig.max_retries
    max_deliveries: int | None = None  # None: EngineConfig.max_deliveries
    timeout: float | None = None
    run_after: int | None = None
    dead_letter: bool = True
    result_ttl: int | None = None
    depends_on: tuple[str, ...] = ()  # task ids that must succeed first (docs/workflows.md)
    on_dependency_failure: str = "cancel"  # or "block": wait for the dependency's requeue
    pipeline: str | None = None  # the pipeline run it belongs to
    step: str | None = None  # its step name in that run
    coroutine: bool = False  # an async def task: a worker runs it on its event loop (coroutines.py)
    cost: float | None = None  # declared worker time in ms: what time-fair mode charges (None: measured)
    subkey: str | None = None  # the tenant's own user or project: fair order among them (lua/lib/subkeys)
    # engine-set
    waiting: int = 0  # dependencies not yet succeeded
    state: State | None = None
    enqueued_at: int | None = None
    started_at: int | None = None
    finished_at: int | None = None
    deliveries: int = 0
    failures: int = 0
    worker: str | None = None
    lease_token: str | None = None
    lease_deadline: int | None = None
    result: str | None = None
    dead_reason: str | None = None
    payload: str | None = None
    # raw JSON texts as stored, decoded on first use (the worker's hot path never needs them)
    error_text: str | None = None
    errors_text: str | None = None
    history_text: str | None = None
    unreadable: str | None = None  # set on a stand-in: why the stored record cannot be decoded

    def push_doc(
        self, *, max_payload: int, result_ttl: int, max_retries: int = 3, max_deliveries: int = 3
    ) -> dict[str, str]:
        """The JSON object push.lua stores; validates everything the caller set."""
        retries = max_retries if self.max_retries is None else self.max_retries
        deliveries = max_deliveries if self.max_deliveries is None else self.max_deliveries
        check_name("task id", self.id)
        check_name("user", self.user)
        if not isinstance(self.func, str) or not self.func or len(self.func) > 200:
            raise InvalidTask(f"func must be a dotted task path, got {self.func!r}")
        # every value a string, defaults omitted: push.lua copies the object into the hash as is
        doc: dict[str, str] = {
            "v": _RECORD_V,
            "id": self.id,
            "func": self.func,
            "user": self.user,
            "priority": _priority_text(self.priority),
            "payload": encode_payload(self.args, self.kwargs, max_payload),
            "max_retries": str(_non_negative("max_retries", retries)),
            "max_deliveries": str(max(1, _non_negative("max_deliveries", deliveries))),
            "result_ttl": str(int(self.result_ttl if self.result_ttl is not None else result_ttl)),
        }
        if self.queue != "default":
            doc["queue"] = str(self.queue)
        if not self.dead_letter:
            doc["dead_letter"] = "0"
        if self.timeout is not None:
            doc["timeout"] = repr(float(self.timeout))
        if self.run_after is not None:
            doc["run_after"] = str(int(self.run_after))
        if self.depends_on:
            deps = dict.fromkeys(check_name("dependency id", d) for d in self.depends_on)
            if self.id in deps:
                raise InvalidTask(f"task {self.id!r} cannot depend on itself")
            doc["depends_on"] = json.dumps(list(deps))
        if self.on_dependency_failure != "cancel":
            if self.on_dependency_failure != "block":
                raise InvalidTask(
                    f"on_dependency_failure must be 'cancel' or 'block', got {self.on_dependency_failure!r}"
                )
            doc["on_dep_fail"] = "block"
        if self.pipeline is not None:
            doc["pipeline"] = check_name("pipeline id", self.pipeline)
            if ":" in self.pipeline or "|" in self.pipeline:
                raise InvalidTask(f"pipeline run id {self.pipeline!r} may not contain ':' or '|'")
        if self.step is not None:
            doc["step"] = check_name("step name", self.step)
        if self.coroutine:
            doc["kind"] = "a"  # what ack_and_pop_many's per-kind budgets count (lib/pop)
        if self.cost is not None:
            doc["cost"] = cost_text(self.cost)
        if self.subkey is not None:
            doc["subkey"] = check_name("subkey", self.subkey)
        return doc

    @classmethod
    def from_fields(cls, f: dict[str, str]) -> Task:
        """Rebuild a task from its Redis hash (raises KeyError/ValueError if malformed).
        On every pop: kept to plain lookups (no helper calls per field)."""
        payload = f["payload"]
        body = json.loads(payload)
        if not isinstance(body, dict):
            raise ValueError("payload is not a JSON object")
        args, kwargs = body.get("args", []), body.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise ValueError("payload args must be a list and kwargs an object")
        get = f.get
        state = get("state")
        timeout, run_after, ttl = get("timeout"), get("run_after"), get("result_ttl")
        enqueued, started, finished, deadline = (
            get("enqueued_at"),
            get("started_at"),
            get("finished_at"),
            get("lease_deadline"),
        )
        return cls(
            func=f["func"],
            args=args,
            kwargs=kwargs,
            user=f["user"],
            priority=int(f["priority"]),
            id=f["id"],
            payload=payload,
            queue=get("queue", "default"),
            max_retries=int(get("max_retries") or 0),
            max_deliveries=int(get("max_deliveries") or 3),
            timeout=float(timeout) if timeout else None,
            run_after=int(run_after) if run_after else None,
            dead_letter=get("dead_letter", "1") != "0",
            result_ttl=int(ttl) if ttl else None,
            state=(_STATES.get(state) or State(state)) if state else None,
            enqueued_at=int(enqueued) if enqueued else None,
            started_at=int(started) if started else None,
            finished_at=int(finished) if finished else None,
            lease_deadline=int(deadline) if deadline else None,
            deliveries=int(get("deliveries") or 0),
            failures=int(get("failures") or 0),
            worker=get("worker"),
            lease_token=get("lease_token"),
            result=get("result"),
            dead_reason=get("dead_reason"),
            error_text=get("error"),
            errors_text=get("errors"),
            history_text=get("history"),
            depends_on=_ids(get("depends_on")),
            on_dependency_failure=get("on_dep_fail") or "cancel",
            pipeline=get("pipeline"),
            step=get("step"),
            coroutine=get("kind") == "a",
            cost=_cost_value(get("cost")),
            subkey=get("subkey"),
            waiting=int(get("waiting") or 0),
        )

    @classmethod
    def stand_in(cls, task_id: str, fields: dict[str, str], why: str) -> Task:
        """What can be shown of a record Python cannot decode (or whose hash is gone), so no
        dead letter is invisible: an operator sees it, why, and can delete it."""
        user = fields.get("user") or ""
        state = fields.get("state")
        finished = fields.get("finished_at") or ""
        return cls(
            func=fields.get("func") or "?",
            user=user if _NAME.fullmatch(user) else "",
            id=task_id,
            state=_STATES.get(state) if state else None,
            dead_reason=fields.get("dead_reason"),
            finished_at=int(finished) if finished.isdigit() else None,
            error_text=json.dumps({"type": "unreadable record", "message": why, "traceback": ""}),
            errors_text=fields.get("errors") if fields.get("errors", "").startswith("{") else None,
            unreadable=why,
        )

    @property
    def error(self) -> dict[str, str] | None:
        """The last failure: {type, message, traceback}."""
        return json.loads(self.error_text) if self.error_text else None

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Every failure (at most 10), oldest first."""
        return _json_list(self.errors_text)

    @property
    def history(self) -> list[dict[str, Any]]:
        """State changes [{at, state, worker?, reason?}], oldest first (at most 100)."""
        return _json_list(self.history_text)

    @property
    def return_value(self) -> Any:
        return None if self.result is None else json.loads(self.result)

    @property
    def worker_ids(self) -> list[str]:
        return [h["worker"] for h in self.history if h.get("state") == "running" and "worker" in h]


def _ids(text: str | None) -> tuple[str, ...]:
    """A stored JSON list of ids; a hand-edited one that is not reads as none (display only)."""
    if not text:
        return ()
    try:
        ids = json.loads(text)
    except ValueError:
        return ()
    return tuple(i for i in ids if isinstance(i, str)) if isinstance(ids, list) else ()


def _non_negative(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidTask(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _json_list(text: str | None) -> list[dict[str, Any]]:
    return json.loads(f"[{text}]") if text else []
