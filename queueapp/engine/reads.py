"""Read-only inspection plans for dashboards and operators.

Every read is a bounded page over a structure the scripts maintain (lanes,
running, DLQ, backlog, counters); nothing scans the keyspace. Plans yield a
command or a list of commands (one pipeline) and receive the replies.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .fairness import FairnessPlans, score_pairs
from .task import Priority, Task

if TYPE_CHECKING:
    from .core import Call
    from .keys import Keys

Plan = Generator[Any, Any, Any]
GAUGES = ("queued", "delayed", "running", "dead")
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
    items: list
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


def _task_or_none(fields: dict[str, str]) -> Task | None:
    if not fields:
        return None
    try:
        return Task.from_fields(fields)
    except (KeyError, ValueError, TypeError):
        return None


class ReadPlans(FairnessPlans):
    keys: Keys

    def _cmd(self, *args: Any, parse=lambda r: r) -> Call:
        from .core import Call

        return Call(None, args, parse)

    def _tasks(self, ids: list[str]) -> Plan:
        if not ids:
            return []
        found = yield [self._cmd("HGETALL", self.keys.task(i), parse=_task_or_none) for i in ids]
        return [t for t in found if t is not None]

    def get_task(self, task_id: str) -> Plan:
        fields = yield self._cmd("HGETALL", self.keys.task(task_id))
        return _task_or_none(fields)

    def tenant_queue(self, user: str, offset: int = 0, limit: int = 50) -> Plan:
        """A tenant's queued tasks in serve order: CRITICAL lane, then the aged zset."""
        k = self.keys
        n_crit, n_norm = yield [self._cmd("LLEN", k.crit(user)), self._cmd("ZCARD", k.norm(user))]
        ids: list[str] = []
        if offset < n_crit:
            ids = yield self._cmd("LRANGE", k.crit(user), offset, offset + limit - 1)
        rest = limit - len(ids)
        start = max(0, offset - n_crit)
        if rest > 0 and start < n_norm:
            ids += yield self._cmd("ZRANGE", k.norm(user), start, start + rest - 1)
        tasks = yield from self._tasks(ids)
        return Page(tasks, n_crit + n_norm, offset, limit)

    def _zpage(self, key: str, offset: int, limit: int, newest_first: bool) -> Plan:
        order = "ZREVRANGE" if newest_first else "ZRANGE"
        total, ids = yield [self._cmd("ZCARD", key), self._cmd(order, key, offset, offset + limit - 1)]
        tasks = yield from self._tasks(ids)
        return Page(tasks, total, offset, limit)

    def running(self, offset: int = 0, limit: int = 50) -> Plan:
        """Running tasks, the lease expiring soonest first."""
        return (yield from self._zpage(self.keys.running(), offset, limit, False))

    def delayed(self, offset: int = 0, limit: int = 50) -> Plan:
        return (yield from self._zpage(self.keys.delayed(), offset, limit, False))

    def dead_letters(self, offset: int = 0, limit: int = 50, user: str | None = None) -> Plan:
        """Dead letters, newest first; one tenant's only when `user` is given."""
        key = self.keys.dlq_user(user) if user else self.keys.dlq()
        return (yield from self._zpage(key, offset, limit, True))

    def dead_letter_ids(self, offset: int, limit: int, user: str | None = None) -> Plan:
        key = self.keys.dlq_user(user) if user else self.keys.dlq()
        return (yield self._cmd("ZRANGE", key, offset, offset + limit - 1))

    def tenants_with_backlog(self, offset: int = 0, limit: int = 50) -> Plan:
        """(user, queued) pairs, largest backlog first, and the number of such tenants."""
        k = self.keys.backlog()
        total, rows = yield [
            self._cmd("ZCARD", k),
            self._cmd("ZREVRANGE", k, offset, offset + limit - 1, "WITHSCORES", parse=score_pairs),
        ]
        return Page([(u, int(float(n))) for u, n in rows], total, offset, limit)

    def tenant_keys(self, offset: int = 0, limit: int = 50, prefix: str = "", by: str = "key") -> Plan:
        """A page of tenant keys: by key (optionally starting with `prefix`) over every tenant seen
        or registered, or by backlog (largest first, tenants with queued work only)."""
        k = self.keys
        if by == "backlog":
            page = yield from self.tenants_with_backlog(offset, limit)
            return Page([u for u, _ in page.items], page.total, offset, limit)
        low = f"[{prefix}" if prefix else "-"
        high = f"[{prefix}\xff" if prefix else "+"
        total, keys = yield [
            self._cmd("ZLEXCOUNT", k.tenants_lex(), low, high),
            self._cmd("ZRANGE", k.tenants_lex(), low, high, "BYLEX", "LIMIT", offset, limit),
        ]
        return Page(keys, total, offset, limit)

    def tenant_rows(self, users: list[str]) -> Plan:
        """Per tenant: its counters plus the CRITICAL and normal lane lengths."""
        k = self.keys
        replies = yield [
            c
            for u in users
            for c in (
                self._cmd("HGETALL", k.stats_user(u), parse=_ints),
                self._cmd("LLEN", k.crit(u)),
                self._cmd("ZCARD", k.norm(u)),
            )
        ]
        return {
            u: {**replies[3 * i], "crit": replies[3 * i + 1], "norm": replies[3 * i + 2]} for i, u in enumerate(users)
        }

    def recent(self, user: str, limit: int = 20) -> Plan:
        ids = yield self._cmd("LRANGE", self.keys.recent(user), 0, limit - 1)
        return (yield from self._tasks(ids))

    def stats(self) -> Plan:
        return _ints((yield self._cmd("HGETALL", self.keys.stats())))

    def tenant_stats(self, user: str) -> Plan:
        return _ints((yield self._cmd("HGETALL", self.keys.stats_user(user))))

    def priority_stats(self) -> Plan:
        rows = yield [self._cmd("HGETALL", self.keys.stats_prio(int(p))) for p in Priority]
        return {p: _ints(r) for p, r in zip(Priority, rows, strict=True)}

    def throughput(self, minutes: int = 60) -> Plan:
        """[(epoch minute, {event: count}), ...] for the last `minutes` minutes, oldest first."""
        sec, _ = yield self._cmd("TIME")
        now_min = int(sec) // 60
        span = range(now_min - minutes + 1, now_min + 1)
        rows = yield [self._cmd("HGETALL", self.keys.throughput(m)) for m in span]
        return [(m, {k: int(v) for k, v in r.items()}) for m, r in zip(span, rows, strict=True)]

    def idle(self, within_ms: int = 1000) -> Plan:
        """True when no task is running and none is due within `within_ms` (burst workers exit)."""
        running, now = yield [self._cmd("ZCARD", self.keys.running()), self._cmd("TIME")]
        if running:
            return False
        limit_ms = int(now[0]) * 1000 + int(now[1]) // 1000 + within_ms
        due = yield self._cmd("ZRANGE", self.keys.delayed(), "-inf", limit_ms, "BYSCORE", "LIMIT", 0, 1)
        return not due

    def workers(self) -> Plan:
        """Heartbeat reports: [{worker, last_seen, ...info}], most recent first."""
        rows = yield self._cmd("ZREVRANGE", self.keys.workers(), 0, 999, "WITHSCORES", parse=score_pairs)
        names = [w for w, _ in rows]
        infos = yield [self._cmd("HGETALL", self.keys.worker_info(w)) for w in names]
        return [{"worker": w, "last_seen": int(float(s)), **i} for (w, s), i in zip(rows, infos, strict=True)]

    def unregistered(self, limit: int = 1000) -> Plan:
        """Tenants with queued work that are not registered: [(user, queued)], largest first."""
        rows = yield self._cmd("ZREVRANGE", self.keys.backlog(), 0, limit - 1, "WITHSCORES", parse=score_pairs)
        if not rows:
            return []
        known = yield self._cmd("SMISMEMBER", self.keys.registered(), *[u for u, _ in rows])
        return [(u, int(float(n))) for (u, n), k in zip(rows, known, strict=True) if not k]

    def orphaned(self, limit: int = 1000, alive_ms: int = 60_000) -> Plan:
        """Tenants with queued work that no enabled worker serves: [(user, queued)].

        None when a worker steals from "*", or a worker without configuration (which serves
        every tenant) sent a heartbeat in the last `alive_ms`.
        """
        k = self.keys
        steal_all, configured, recent, now = yield [
            self._cmd("SCARD", k.steal_all()),
            self._cmd("SMEMBERS", k.configured()),
            self._cmd("ZREVRANGE", k.workers(), 0, 999, "WITHSCORES", parse=score_pairs),
            self._cmd("TIME"),
        ]
        now_ms = int(now[0]) * 1000 + int(now[1]) // 1000
        if steal_all or any(w not in configured and now_ms - float(s) < alive_ms for w, s in recent):
            return []
        rows = yield self._cmd("ZREVRANGE", k.backlog(), 0, limit - 1, "WITHSCORES", parse=score_pairs)
        served = yield [self._cmd("SCARD", k.tsets(u)) for u, _ in rows]
        return [(u, int(float(n))) for (u, n), s in zip(rows, served, strict=True) if not s]

    def config_snapshot(self) -> Plan:
        """The synced configuration in canonical form (for drift reports and tests)."""
        k = self.keys
        registered, weights, paused, workers, steal_all = yield [
            self._cmd("SMEMBERS", k.registered()),
            self._cmd("HGETALL", k.weights()),
            self._cmd("SMEMBERS", k.paused()),
            self._cmd("SMEMBERS", k.configured()),
            self._cmd("SMEMBERS", k.steal_all()),
        ]
        names = sorted(workers)
        configs = yield [self._cmd("HGETALL", k.worker_cfg(w)) for w in names]
        tenants = {u: {"weight": float(weights.get(u, 1)), "paused": u in paused} for u in registered}
        out_workers = {}
        for name, cfg in zip(names, configs, strict=True):
            cfg.pop("updated_at", None)
            for field in ("assigned", "steal"):
                value = json.loads(cfg.get(field) or "[]")
                cfg[field] = sorted(value) if isinstance(value, list) else []
            out_workers[name] = cfg
        schedule_names = sorted((yield self._cmd("SMEMBERS", k.schedules())))
        schedule_rows = yield [self._cmd("HGETALL", k.schedule(n)) for n in schedule_names]
        return {
            "tenants": tenants,
            "workers": out_workers,
            "steal_all": sorted(steal_all),
            "schedules": dict(zip(schedule_names, schedule_rows, strict=True)),
            "unregistered_weights": sorted(set(weights) - set(registered)),
            "unregistered_paused": sorted(set(paused) - set(registered)),
        }

    def schedules(self) -> Plan:
        """(version, {name: (config, state)}) of every synced schedule."""
        k = self.keys
        version, names = yield [self._cmd("GET", k.schedules_version()), self._cmd("SMEMBERS", k.schedules())]
        names = sorted(names)
        rows = yield [self._cmd("HGETALL", key) for n in names for key in (k.schedule(n), k.schedule_state(n))]
        return version, {n: (rows[2 * i], rows[2 * i + 1]) for i, n in enumerate(names)}

    def schedules_version(self) -> Plan:
        return (yield self._cmd("GET", self.keys.schedules_version()))

    def redis_time_ms(self) -> Plan:
        sec, usec = yield self._cmd("TIME")
        return int(sec) * 1000 + int(usec) // 1000

    def is_synced(self) -> Plan:
        return bool((yield self._cmd("EXISTS", self.keys.synced())))

    def worker_config(self, worker: str) -> Plan:
        fields = yield self._cmd("HGETALL", self.keys.worker_cfg(worker))
        if not fields:
            return None
        for name in ("assigned", "steal"):
            value = json.loads(fields.get(name) or "[]")
            fields[name] = value if isinstance(value, list) else []
        if fields.get("steal_all") == "1":
            fields["steal"].append("*")
        fields["enabled"] = fields.get("enabled") != "0"
        return fields
