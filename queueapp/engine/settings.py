"""Typed values that cross a layer: what sync.py pushes (tenant and worker
settings), what a worker reports about itself. Each knows its one wire form
(`to_params` for a script, `from_fields` for a Redis hash), so nobody else
parses "1"/"0" or repr(float) strings, and drift compares values, not strings.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from .cron import SKIP
from .errors import ConfigError
from .task import Priority, Task, check_name

MIN_WEIGHT, MAX_WEIGHT = 1, 1000
ALIVE_FLOOR_SECONDS = 5.0  # a report outlives two missed heartbeats plus this


def report_ttl_seconds(lease_seconds: float) -> int:
    """How long a worker report stays (and the worker counts as alive) after its last heartbeat:
    two leases (six heartbeats at lease/3) plus a floor. The one definition of "alive"."""
    return int(2 * lease_seconds + ALIVE_FLOOR_SECONDS + 0.999)


def _bool(value: str | None, default: bool) -> bool:
    return default if value is None else value == "1"


def _opt_float(value: str | None) -> float | None:
    return float(value) if value not in (None, "") else None


def _opt_int(value: str | None) -> int | None:
    return int(float(value)) if value not in (None, "") else None


def _names(value: str | None) -> tuple[str, ...]:
    try:
        names = json.loads(value or "[]")
    except ValueError:
        return ()
    return tuple(sorted(names)) if isinstance(names, list) else ()  # cjson writes {} for an empty list


MAX_RUNNING_CAP, MAX_RATE, MAX_BURST = 100_000, 100_000.0, 1_000_000


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and value == value


@dataclass(frozen=True, slots=True)
class TenantSettings:
    """A tenant's share (weight), pause, and limits (lib/limits.lua): `max_running` tasks at
    once across all workers, `rate` tasks per second with bursts of `burst` (default: one
    second's worth). None: no limit."""

    user: str
    weight: float = 1
    paused: bool = False
    max_running: int | None = None
    rate: float | None = None
    burst: int | None = None

    def __post_init__(self) -> None:
        check_name("user", self.user)
        w = self.weight
        if not _is_number(w) or not MIN_WEIGHT <= w <= MAX_WEIGHT:
            raise ConfigError(f"weight of {self.user} must be between {MIN_WEIGHT} and {MAX_WEIGHT}, got {w!r}")
        object.__setattr__(self, "weight", float(w))
        cap = self.max_running
        if cap is not None and (not _is_number(cap) or cap != int(cap) or not 1 <= cap <= MAX_RUNNING_CAP):
            raise ConfigError(f"max_running of {self.user} must be a whole number 1..{MAX_RUNNING_CAP}, got {cap!r}")
        rate, burst = self.rate, self.burst
        if rate is not None and (not _is_number(rate) or not 0 < rate <= MAX_RATE):
            raise ConfigError(f"rate of {self.user} must be tasks per second, > 0 and <= {MAX_RATE:g}, got {rate!r}")
        if burst is not None and (not _is_number(burst) or burst != int(burst) or not 1 <= burst <= MAX_BURST):
            raise ConfigError(f"burst of {self.user} must be a whole number 1..{MAX_BURST}, got {burst!r}")
        if burst is not None and rate is None:
            raise ConfigError(f"burst of {self.user} needs a rate")
        object.__setattr__(self, "max_running", None if cap is None else int(cap))
        object.__setattr__(self, "rate", None if rate is None else float(rate))
        if rate is not None:
            object.__setattr__(self, "burst", int(burst) if burst is not None else max(1, math.ceil(rate)))

    @classmethod
    def stored(cls, user: str, weights: dict[str, str], paused: bool) -> TenantSettings:
        """What cfg:weights says of `user` (its weight, "<user>|cap", "<user>|rate" =
        "rate:burst"); a value a hand edit made unreadable reads as absent (sync rewrites it)."""
        limits: dict[str, Any] = {}
        cap, rate = weights.get(f"{user}|cap"), weights.get(f"{user}|rate")
        with contextlib.suppress(ValueError):
            limits["max_running"] = int(cap) if cap is not None else None
        if rate is not None:
            text, _, burst = rate.partition(":")
            with contextlib.suppress(ValueError):
                limits["rate"], limits["burst"] = float(text), int(burst)
        weight = weights.get(user, "1")
        for kept_weight, kept_limits in ((weight, limits), (weight, {}), ("1", {})):  # the most that reads
            with contextlib.suppress(ConfigError, ValueError):
                return cls(user, float(kept_weight), paused, **kept_limits)
        raise AssertionError("unreachable: weight 1 without limits is always valid")

    def limit_params(self) -> dict[str, Any]:
        """The limits as set_tenant.lua takes them (absent: none)."""
        out: dict[str, Any] = {}
        if self.max_running is not None:
            out["max_running"] = self.max_running
        if self.rate is not None:
            out["rate"], out["burst"] = self.rate, self.burst
        return out


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """One worker's configuration. `steal_all` is the steal target "*" (serve any tenant nobody
    else has work for); `assigned`/`steal` are sorted tenant keys."""

    worker: str
    assigned: tuple[str, ...] = ()
    steal: tuple[str, ...] = ()
    steal_all: bool = False
    enabled: bool = True
    concurrency: int | None = None  # None: the runworker option
    poll_interval: float | None = None
    lease_seconds: float | None = None

    def __post_init__(self) -> None:
        check_name("worker id", self.worker)
        assigned = tuple(sorted({check_name("assigned user", u) for u in self.assigned}))
        steal = tuple(sorted({check_name("steal target", u) for u in self.steal}))
        both = set(assigned) & set(steal)
        if both:
            raise ConfigError(f"worker {self.worker}: {sorted(both)} cannot be both assigned and a steal target")
        object.__setattr__(self, "assigned", assigned)
        object.__setattr__(self, "steal", steal)
        for name in ("poll_interval", "lease_seconds"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, float(value))

    def to_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "worker": self.worker,
            "assigned": list(self.assigned) or {},
            "steal": list(self.steal) or {},
            "steal_all": self.steal_all,
            "enabled": self.enabled,
        }
        for name in ("concurrency", "poll_interval", "lease_seconds"):
            if getattr(self, name) is not None:
                params[name] = getattr(self, name)
        return params

    @classmethod
    def from_fields(cls, worker: str, fields: dict[str, str]) -> WorkerSettings:
        return cls(
            worker,
            assigned=_names(fields.get("assigned")),
            steal=_names(fields.get("steal")),
            steal_all=_bool(fields.get("steal_all"), False),
            enabled=_bool(fields.get("enabled"), True),
            concurrency=_opt_int(fields.get("concurrency")),
            poll_interval=_opt_float(fields.get("poll_interval")),
            lease_seconds=_opt_float(fields.get("lease_seconds")),
        )


@dataclass(frozen=True, slots=True)
class WorkerReport:
    """A worker's last heartbeat report, read together with Redis TIME (`observed_ms`)."""

    worker: str
    last_seen_ms: int
    observed_ms: int
    state: str = "running"  # running | stopping | disabled | stopped
    host: str = ""
    pid: int | None = None
    started_at_ms: int | None = None
    concurrency: int = 0
    processed: int = 0
    failed: int = 0
    current: tuple[str, ...] = field(default=())
    ttl_seconds: int = 60

    def is_alive(self, now_ms: int | None = None) -> bool:
        """Heard from within its report TTL and not cleanly stopped."""
        now = self.observed_ms if now_ms is None else now_ms
        return self.state != "stopped" and now - self.last_seen_ms < self.ttl_seconds * 1000

    def to_info(self) -> dict[str, Any]:
        """What the heartbeat script stores (flat strings; `current` as JSON text)."""
        return {
            "state": self.state,
            "host": self.host,
            "pid": self.pid or 0,
            "started_at": self.started_at_ms or 0,
            "concurrency": self.concurrency,
            "processed": self.processed,
            "failed": self.failed,
            "current": json.dumps(list(self.current)),
            "ttl": self.ttl_seconds,
        }

    @classmethod
    def from_fields(cls, worker: str, last_seen_ms: int, observed_ms: int, f: dict[str, str]) -> WorkerReport:
        try:
            current = json.loads(f.get("current") or "[]")
        except ValueError:
            current = []
        return cls(
            worker,
            last_seen_ms=last_seen_ms,
            observed_ms=observed_ms,
            state=f.get("state") or "running",
            host=f.get("host", ""),
            pid=_opt_int(f.get("pid")) or None,
            started_at_ms=_opt_int(f.get("started_at")) or None,
            concurrency=_opt_int(f.get("concurrency")) or 0,
            processed=_opt_int(f.get("processed")) or 0,
            failed=_opt_int(f.get("failed")) or 0,
            current=tuple(str(i) for i in current) if isinstance(current, list) else (),
            ttl_seconds=_opt_int(f.get("ttl")) or 0,  # no report left: not alive
        )


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """A cron schedule as the scheduler fires it (built from a Schedule row by the Django layer)."""

    name: str
    cron: str
    func: str
    tz: str = "UTC"
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    user: str = "default"
    priority: int = int(Priority.NORMAL)
    enabled: bool = True
    policy: str = SKIP
    start_ms: int | None = None
    end_ms: int | None = None

    def task(self, task_id: str | None = None) -> Task:
        task = Task(self.func, args=list(self.args), kwargs=dict(self.kwargs), user=self.user, priority=self.priority)
        if task_id:
            task.id = task_id
        return task

    def to_fields(self) -> dict[str, str]:
        """The hash the set_schedule script stores (string values)."""
        fields = {
            "cron": self.cron,
            "tz": self.tz,
            "func": self.func,
            "user": self.user,
            "payload": json.dumps({"args": list(self.args), "kwargs": self.kwargs}, separators=(",", ":")),
            "priority": str(self.priority),
            "enabled": "1" if self.enabled else "0",
            "policy": self.policy,
        }
        for name in ("start_ms", "end_ms"):
            value = getattr(self, name)
            if value is not None:
                fields[name] = str(value)
        return fields

    @classmethod
    def from_fields(cls, name: str, f: dict[str, str]) -> ScheduleSpec:
        """Raises KeyError/ValueError for a record that is not a usable schedule."""
        payload = json.loads(f.get("payload") or "{}")
        return cls(
            name=name,
            cron=f["cron"],
            func=f["func"],
            tz=f.get("tz") or "UTC",
            args=tuple(payload.get("args") or ()),
            kwargs=dict(payload.get("kwargs") or {}),
            user=f.get("user") or "default",
            priority=int(f.get("priority") or Priority.NORMAL),
            enabled=_bool(f.get("enabled"), True),
            policy=f.get("policy") or SKIP,
            start_ms=_opt_int(f.get("start_ms")),
            end_ms=_opt_int(f.get("end_ms")),
        )
