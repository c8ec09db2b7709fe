"""Read-only inspection plans for dashboards and operators.

Every read is a bounded page over a structure the scripts maintain (lanes,
running, DLQ, backlog, counters); nothing scans the keyspace. Plans yield a
command or a list of commands (one pipeline) and receive the replies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .call import Plan, command
from .fairness import score_pairs
from .keys import CAP_MARK, Keys
from .settings import ScheduleSpec, TenantSettings, WorkerReport, WorkerSettings
from .task import Priority, Task
from .workflows import WorkflowReads

GAUGES = ("queued", "delayed", "waiting", "running", "dead")
COUNTERS = (
    "enqueued",
    "succeeded",
    "failed",
    "retried",
    "dead_lettered",
    "cancelled",
    "expired",
    "released",
    "requeued",
    "deleted",
    "missing",
)


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Any]
    total: int
    offset: int
    limit: int

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.items) < self.total


def _ints(d: dict[str, str]) -> dict[str, int]:
    out = {k: int(v) for k, v in d.items()}
    for name in GAUGES + COUNTERS:
        out.setdefault(name, 0)
    return out


def _ms(time_reply: Sequence[str]) -> int:
    return int(time_reply[0]) * 1000 + int(time_reply[1]) // 1000


def summed(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The queue's counters: the sum of the per-priority hashes (the scripts keep no third copy)."""
    total = _ints({})
    for row in rows:
        for name, value in row.items():
            total[name] = total.get(name, 0) + int(value)
    return total


def serves_every_tenant(steal_all: int, configured: set[str], reports: Sequence[WorkerReport]) -> bool:
    """No tenant is orphaned while a worker steals from "*" or an alive worker without
    configuration (which serves every tenant) reported in."""
    return bool(steal_all) or any(r.worker not in configured and r.is_alive() for r in reports)


@dataclass(frozen=True, slots=True)
class ConfigSnapshot:
    """The synced configuration as typed values (drift compares these with the DB's)."""

    tenants: dict[str, TenantSettings]
    workers: dict[str, WorkerSettings]
    schedules: dict[str, ScheduleSpec | None]  # None: stored but not a usable schedule
    unregistered_weights: list[str]
    unregistered_paused: list[str]
    steal_all: list[str]  # enabled steal-all workers as the pop's index (cfg:steal_all) has them


def _spec_or_none(name: str, fields: dict[str, str]) -> ScheduleSpec | None:
    try:
        return ScheduleSpec.from_fields(name, fields)
    except (KeyError, ValueError, TypeError):
        return None


def _task_or_none(fields: dict[str, str]) -> Task | None:
    if not fields:
        return None
    try:
        return Task.from_fields(fields)
    except (KeyError, ValueError, TypeError, AttributeError):
        return None


def _task_or_stand_in(task_id: str, fields: dict[str, str]) -> Task:
    """The task, or a stand-in naming what is wrong with its record (never dropped)."""
    if not fields:
        return Task.stand_in(task_id, {}, "the task record is gone; only its entry in this list is left")
    try:
        return Task.from_fields(fields)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        missing = f"field {exc} missing" if isinstance(exc, KeyError) else str(exc)
        return Task.stand_in(task_id, fields, f"the stored record cannot be decoded: {missing}")


class Reads(WorkflowReads):
    """Read plans over the structures the scripts maintain (composed into Core as core.reads).
    Defaults (page sizes, windows) live in operations.py, the surface callers use."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys

    def _tasks(self, ids: list[str], stand_ins: bool = False) -> Plan[list[Task]]:
        """The tasks of `ids`; records that cannot be read are left out, or (for lists an
        operator must act on, such as the DLQ) shown as stand-ins."""
        if not ids:
            return []
        rows = yield [command("HGETALL", self.keys.task(i)) for i in ids]
        if stand_ins:
            return [_task_or_stand_in(i, f) for i, f in zip(ids, rows, strict=True)]
        return [t for t in map(_task_or_none, rows) if t is not None]

    def tasks(self, ids: list[str]) -> Plan[list[Task]]:
        """Existing records of `ids` in order; stand-ins for those Python cannot decode."""
        if not ids:
            return []
        rows = yield [command("HGETALL", self.keys.task(i)) for i in ids]
        return [_task_or_stand_in(i, f) for i, f in zip(ids, rows, strict=True) if f]

    def get_task(self, task_id: str) -> Plan[Task | None]:
        """None when there is no such task; a stand-in for a record Python cannot decode, or for
        a dead letter whose record is gone (its DLQ entry is all that is left)."""
        fields = yield command("HGETALL", self.keys.task(task_id))
        if fields:
            return _task_or_stand_in(task_id, fields)
        dead_at = yield command("ZSCORE", self.keys.dlq(), task_id)  # a second command only on a miss
        return None if dead_at is None else _task_or_stand_in(task_id, {})

    def tenant_queue(self, user: str, offset: int, limit: int) -> Plan[Page]:
        """A tenant's queued tasks in serve order: CRITICAL lane, then the aged zset."""
        k = self.keys
        n_crit, n_norm = yield [command("LLEN", k.crit(user)), command("ZCARD", k.norm(user))]
        ids: list[str] = []
        if offset < n_crit:
            ids = yield command("LRANGE", k.crit(user), offset, offset + limit - 1)
        rest = limit - len(ids)
        start = max(0, offset - n_crit)
        if rest > 0 and start < n_norm:
            ids += yield command("ZRANGE", k.norm(user), start, start + rest - 1)
        tasks = yield from self._tasks(ids)
        return Page(tasks, n_crit + n_norm, offset, limit)

    def subkeys(self, user: str, sample: int) -> Plan[tuple[int, list[tuple[str, int]]]]:
        """(sub-keys the tenant has used, [(sub-key, tasks)] among its next `sample` queued
        tasks of priorities 1-5, most first): what the tenant page shows (lib/subkeys)."""
        k = self.keys
        known, ids = yield [command("HLEN", k.subs(user)), command("ZRANGE", k.norm(user), 0, sample - 1)]
        subs = yield [command("HGET", k.task(i), "subkey") for i in ids] if ids else []
        counts: Counter[str] = Counter(s if s is not None else "" for s in subs)
        return max(0, known - 1), counts.most_common()  # HLEN counts the "~max" field

    def _zpage(self, key: str, offset: int, limit: int, newest_first: bool, stand_ins: bool = False) -> Plan[Page]:
        order = "ZREVRANGE" if newest_first else "ZRANGE"
        total, ids = yield [command("ZCARD", key), command(order, key, offset, offset + limit - 1)]
        tasks = yield from self._tasks(ids, stand_ins)
        return Page(tasks, total, offset, limit)

    def running(self, offset: int, limit: int) -> Plan[Page]:
        """Running tasks, the lease expiring soonest first."""
        return (yield from self._zpage(self.keys.running(), offset, limit, False))

    def delayed(self, offset: int, limit: int) -> Plan[Page]:
        return (yield from self._zpage(self.keys.delayed(), offset, limit, False))

    def dead_letters(self, offset: int, limit: int, user: str | None) -> Plan[Page]:
        """Dead letters, newest first; one tenant's only when `user` is given."""
        key = self.keys.dlq_user(user) if user else self.keys.dlq()
        return (yield from self._zpage(key, offset, limit, True, stand_ins=True))

    def dead_letter_ids(self, offset: int, limit: int, user: str | None) -> Plan[list[str]]:
        key = self.keys.dlq_user(user) if user else self.keys.dlq()
        ids: list[str] = yield command("ZRANGE", key, offset, offset + limit - 1)
        return ids

    def tenants_with_backlog(self, offset: int, limit: int) -> Plan[Page]:
        """(user, queued) pairs, largest backlog first, and the number of such tenants."""
        k = self.keys.backlog()
        total, rows = yield [
            command("ZCARD", k),
            command("ZREVRANGE", k, offset, offset + limit - 1, "WITHSCORES", parse=score_pairs),
        ]
        return Page([(u, int(float(n))) for u, n in rows], total, offset, limit)

    def tenant_keys(self, offset: int, limit: int, prefix: str, by: str) -> Plan[Page]:
        """A page of tenant keys: by key (optionally starting with `prefix`) over every tenant seen
        or registered, or by backlog (largest first, tenants with queued work only)."""
        k = self.keys
        if by == "backlog":
            page = yield from self.tenants_with_backlog(offset, limit)
            return Page([u for u, _ in page.items], page.total, offset, limit)
        low = f"[{prefix}" if prefix else "-"
        high = f"[{prefix}\xff" if prefix else "+"
        total, keys = yield [
            command("ZLEXCOUNT", k.tenants_lex(), low, high),
            command("ZRANGE", k.tenants_lex(), low, high, "BYLEX", "LIMIT", offset, limit),
        ]
        return Page(keys, total, offset, limit)

    def tenant_rows(self, users: list[str]) -> Plan[dict[str, dict[str, int]]]:
        """Per tenant: its counters, the CRITICAL and normal lane lengths, and its limits'
        state (lib/limits): held_until (epoch ms, 0: not held) and capped_running (the
        running tasks its cap counts: the set's members but CAP_MARK)."""
        k = self.keys
        replies = yield [
            c
            for u in users
            for c in (
                command("HGETALL", k.stats_user(u), parse=_ints),
                command("LLEN", k.crit(u)),
                command("ZCARD", k.norm(u)),
                command("ZSCORE", k.held(), u),
                command("SCARD", k.running_of(u)),
                command("SISMEMBER", k.running_of(u), CAP_MARK),
            )
        ]
        rows = {}
        for i, u in enumerate(users):
            stats, crit, norm, held, members, marked = replies[6 * i : 6 * i + 6]
            capped = members - int(marked)
            rows[u] = {
                **stats,
                "crit": crit,
                "norm": norm,
                "held_until": int(float(held or 0)),
                "capped_running": capped,
            }
        return rows

    def recent(self, user: str, limit: int) -> Plan[list[Task]]:
        ids = yield command("LRANGE", self.keys.recent(user), 0, limit - 1)
        return (yield from self._tasks(ids))

    def stats(self) -> Plan[dict[str, int]]:
        """The totals: the sum of the per-priority hashes (the scripts keep no third copy)."""
        return summed((yield [command("HGETALL", self.keys.stats_prio(p)) for p in range(int(Priority.CRITICAL) + 1)]))

    def tenant_stats(self, user: str) -> Plan[dict[str, int]]:
        return _ints((yield command("HGETALL", self.keys.stats_user(user))))

    def priority_stats(self) -> Plan[dict[Priority, dict[str, int]]]:
        rows = yield [command("HGETALL", self.keys.stats_prio(int(p))) for p in Priority]
        return {p: _ints(r) for p, r in zip(Priority, rows, strict=True)}

    def throughput(self, minutes: int) -> Plan[list[tuple[int, dict[str, int]]]]:
        """[(epoch minute, {event: count}), ...] for the last `minutes` minutes, oldest first."""
        sec, _ = yield command("TIME")
        now_min = int(sec) // 60
        span = range(now_min - minutes + 1, now_min + 1)
        rows = yield [command("HGETALL", self.keys.throughput(m)) for m in span]
        return [(m, {k: int(v) for k, v in r.items()}) for m, r in zip(span, rows, strict=True)]

    def idle(self, within_ms: int) -> Plan[bool]:
        """True when no task is running and none is due within `within_ms` (burst workers exit):
        neither a delayed task nor a tenant held at its cap or rate limit (lib/limits)."""
        running, now = yield [command("ZCARD", self.keys.running()), command("TIME")]
        if running:
            return False
        until = _ms(now) + within_ms
        due = yield [
            command("ZRANGE", key, "-inf", until, "BYSCORE", "LIMIT", 0, 1)
            for key in (self.keys.delayed(), self.keys.held())
        ]
        return not any(due)

    def workers(self, limit: int) -> Plan[list[WorkerReport]]:
        """Heartbeat reports, most recent first, read with Redis TIME (WorkerReport.is_alive)."""
        rows, now = yield [
            command("ZREVRANGE", self.keys.workers(), 0, limit - 1, "WITHSCORES", parse=score_pairs),
            command("TIME"),
        ]
        infos = yield [command("HGETALL", self.keys.worker_info(w)) for w, _ in rows]
        return [
            WorkerReport.from_fields(w, int(float(s)), _ms(now), info) for (w, s), info in zip(rows, infos, strict=True)
        ]

    def unregistered(self, limit: int) -> Plan[list[tuple[str, int]]]:
        """Tenants with queued work that are not registered: [(user, queued)], largest first."""
        rows = yield command("ZREVRANGE", self.keys.backlog(), 0, limit - 1, "WITHSCORES", parse=score_pairs)
        if not rows:
            return []
        known = yield command("SMISMEMBER", self.keys.registered(), *[u for u, _ in rows])
        return [(u, int(float(n))) for (u, n), k in zip(rows, known, strict=True) if not k]

    def orphaned(self, limit: int, workers: int) -> Plan[list[tuple[str, int]]]:
        """Tenants with queued work that no enabled worker serves: [(user, queued)].

        None when a worker steals from "*", or an alive worker without configuration (which
        serves every tenant) reported in (among the `workers` most recent reports).
        """
        k = self.keys
        steal_all, configured = yield [command("SCARD", k.steal_all()), command("SMEMBERS", k.configured())]
        if steal_all:
            return []
        if serves_every_tenant(steal_all, configured, (yield from self.workers(workers))):
            return []
        rows = yield command("ZREVRANGE", k.backlog(), 0, limit - 1, "WITHSCORES", parse=score_pairs)
        served = yield [command("SCARD", k.tsets(u)) for u, _ in rows]
        return [(u, int(float(n))) for (u, n), s in zip(rows, served, strict=True) if not s]

    def config_snapshot(self) -> Plan[ConfigSnapshot]:
        """The synced configuration as typed values (for drift reports and tests)."""
        k = self.keys
        registered, weights, paused, workers, steal_all = yield [
            command("SMEMBERS", k.registered()),
            command("HGETALL", k.weights()),
            command("SMEMBERS", k.paused()),
            command("SMEMBERS", k.configured()),
            command("SMEMBERS", k.steal_all()),
        ]
        names = sorted(workers)
        configs = yield [command("HGETALL", k.worker_cfg(w)) for w in names]
        schedule_names = sorted((yield command("SMEMBERS", k.schedules())))
        schedule_rows = yield [command("HGETALL", k.schedule(n)) for n in schedule_names]
        return ConfigSnapshot(
            tenants={u: TenantSettings.stored(u, weights, u in paused) for u in registered},
            workers={w: WorkerSettings.from_fields(w, cfg) for w, cfg in zip(names, configs, strict=True)},
            schedules={n: _spec_or_none(n, r) for n, r in zip(schedule_names, schedule_rows, strict=True)},
            unregistered_weights=sorted({u for u in weights if "|" not in u} - set(registered)),  # not averages
            unregistered_paused=sorted(set(paused) - set(registered)),
            steal_all=sorted(steal_all),
        )

    def schedules(self) -> Plan[tuple[str | None, dict[str, tuple[dict[str, str], dict[str, str]]]]]:
        """(version, {name: (stored fields, state)}) of every synced schedule."""
        k = self.keys
        version, names = yield [command("GET", k.schedules_version()), command("SMEMBERS", k.schedules())]
        names = sorted(names)
        rows = yield [command("HGETALL", key) for n in names for key in (k.schedule(n), k.schedule_state(n))]
        return version, {n: (rows[2 * i], rows[2 * i + 1]) for i, n in enumerate(names)}

    def schedules_version(self) -> Plan[str | None]:
        version: str | None = yield command("GET", self.keys.schedules_version())
        return version

    def redis_time_ms(self) -> Plan[int]:
        return _ms((yield command("TIME")))

    def ping(self) -> Plan[bool]:
        return bool((yield command("PING")))

    def is_synced(self) -> Plan[bool]:
        return bool((yield command("EXISTS", self.keys.synced())))

    def worker_config(self, worker: str) -> Plan[WorkerSettings | None]:
        fields = yield command("HGETALL", self.keys.worker_cfg(worker))
        return WorkerSettings.from_fields(worker, fields) if fields else None
