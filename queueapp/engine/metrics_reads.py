"""What /metrics reads (queueapp/metrics.py renders it): one snapshot in three pipelines of
bounded size, whatever the number of tenants."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .call import Plan, command
from .fairness import score_pairs, wait_histograms
from .keys import Keys
from .reads import _ints, _ms, serves_every_tenant, summed
from .settings import WorkerReport
from .task import Priority


@dataclass(frozen=True, slots=True)
class TenantMetrics:
    """One tenant's numbers for a metrics scrape."""

    user: str
    backlog: int  # queued tasks (the `backlog` zset)
    running: int
    dead: int
    orphaned: bool  # has backlog and no enabled worker serves it (as Reads.orphaned decides)
    waits: Counter[int] = field(default_factory=Counter)  # wait bucket (fairness.py) -> tasks started


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """What /metrics shows, read in three pipelined round trips whatever the number of tenants:
    the per-priority counters, the top tenants by backlog, the per-function outcomes, the worker
    reports and the wait histograms of the top tenants over the last minutes."""

    observed_ms: int  # Redis TIME
    by_priority: dict[int, dict[str, int]]  # 0..CRITICAL; 0: records without a usable priority
    tenants_with_backlog: int
    top: list[TenantMetrics]  # largest backlog first
    functions: dict[str, dict[str, int]]  # task function -> {succeeded, failed, dead} (terminal outcomes)
    workers: list[WorkerReport]  # most recent first
    wait_minutes: int  # the window of `TenantMetrics.waits` (this minute and the ones before)
    wait_started: int  # tasks of every tenant started in that window

    @property
    def totals(self) -> dict[str, int]:
        """The queue's counters: the sum of the per-priority hashes (as Reads.stats)."""
        return summed(self.by_priority.values())


def _function_counts(fields: dict[str, str]) -> dict[str, dict[str, int]]:
    """`stats:f` fields "<outcome>:<func>" -> {func: {outcome: n}} (function names may hold ':')."""
    out: dict[str, dict[str, int]] = {}
    for name, value in fields.items():
        outcome, _, func = name.partition(":")
        if func:
            row = out.setdefault(func, {"succeeded": 0, "failed": 0, "dead": 0})
            row[outcome] = row.get(outcome, 0) + int(value)
    return out


def metrics_snapshot(k: Keys, top: int, minutes: int, workers: int) -> Plan[MetricsSnapshot]:
    """Everything /metrics shows, in three pipelines of bounded size: O(top + workers +
    task functions) commands and replies, never one per tenant of the queue."""
    prios = range(int(Priority.CRITICAL) + 1)
    start, stop = (0, top - 1) if top > 0 else (1, 0)  # 0, -1 would be every tenant
    first = yield [
        command("TIME"),
        command("ZCARD", k.backlog()),
        command("ZREVRANGE", k.backlog(), start, stop, "WITHSCORES", parse=score_pairs),
        command("ZREVRANGE", k.workers(), 0, workers - 1, "WITHSCORES", parse=score_pairs),
        command("SCARD", k.steal_all()),
        command("SMEMBERS", k.configured()),
        command("HGETALL", k.stats_func()),
        *[command("HGETALL", k.stats_prio(p)) for p in prios],
    ]
    now_ms, with_backlog, rows, beats, steal_all, configured, funcs = first[:7]
    by_priority = {p: _ints(r) for p, r in zip(prios, first[7:], strict=True)}
    users = [u for u, _ in rows]
    now_ms = _ms(now_ms)
    now_minute = now_ms // 60000
    span = list(range(now_minute - minutes + 1, now_minute + 1))
    second = yield [
        *[command("HMGET", k.stats_user(u), "running", "dead") for u in users],
        *[command("SCARD", k.tsets(u)) for u in users],
        *[command("ZMSCORE", k.fair_served(m), "*", *users) for m in span],
        *[command("HGETALL", k.worker_info(w)) for w, _ in beats],
    ]
    n = len(users)
    counts, served_sets = second[:n], second[n : 2 * n]
    served_rows, infos = second[2 * n : 2 * n + len(span)], second[2 * n + len(span) :]
    reports = [
        WorkerReport.from_fields(w, int(float(beat)), now_ms, info)
        for (w, beat), info in zip(beats, infos, strict=True)
    ]
    serves_all = serves_every_tenant(steal_all, configured, reports)  # as Reads.orphaned decides
    started, wait_started = Counter[str](), 0
    for row in served_rows:
        wait_started += int(float(row[0] or 0))
        for u, value in zip(users, row[1:], strict=True):
            if value is not None:
                started[u] += int(float(value))
    waited = [u for u in users if started[u]]  # only tenants started in the window have waits
    waits: dict[str, Counter[int]] = {u: Counter() for u in users}
    waits.update((yield from wait_histograms(k, span, waited)))
    top_rows = [
        TenantMetrics(
            u,
            backlog=int(float(score)),
            running=int(c[0] or 0),
            dead=int(c[1] or 0),
            orphaned=not serves_all and not s and int(float(score)) > 0,
            waits=waits[u],
        )
        for (u, score), c, s in zip(rows, counts, served_sets, strict=True)
    ]
    return MetricsSnapshot(
        observed_ms=now_ms,
        by_priority=by_priority,
        tenants_with_backlog=int(with_backlog),
        top=top_rows,
        functions=_function_counts(funcs),
        workers=reports,
        wait_minutes=minutes,
        wait_started=wait_started,
    )
