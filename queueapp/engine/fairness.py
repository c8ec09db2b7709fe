"""Reading the fairness buckets the pop script keeps: per minute, tasks served
per tenant (zset fair:n:<minute>) and a histogram of their queue waits (hash
fair:w:<minute>, field "<user>:<bucket>", quarter-octave buckets up to 80).
Reads are bounded: the top tenants by service, or the tenants of one page."""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from .call import Plan, command
from .keys import Keys

MAX_BUCKET = 80  # quarter-octave wait buckets 0..80 (lua/lib/stats.lua writes them)
TOP_PER_MINUTE = 200  # tenants read from each minute's served zset when no users are given


def score_pairs(rows: list[Any]) -> list[tuple[str, str]]:
    """WITHSCORES replies: flat [m, s, m, s] from a raw command, or already pairs."""
    if rows and isinstance(rows[0], (list, tuple)):
        return [(str(m), str(sc)) for m, sc in rows]
    return list(zip(rows[::2], rows[1::2], strict=True))


def bucket_upper_ms(bucket: int) -> float:
    """Longest wait counted in `bucket` (waits in [2^(b/4) - 1, 2^((b+1)/4) - 1) ms)."""
    return 2 ** ((bucket + 1) / 4) - 1


def percentile(histogram: Counter[int], q: float) -> float | None:
    """The q-quantile wait in ms (upper edge of its bucket: within 19 %), None without data."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = q * total, 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_upper_ms(bucket)
    return bucket_upper_ms(max(histogram))


@dataclass(frozen=True, slots=True)
class TenantService:
    user: str
    served: int
    share: float  # of all tasks served in the window
    wait_p50_ms: float | None
    wait_p95_ms: float | None
    worker_ms: float = 0.0  # worker time its finished tasks took (time-fair mode records it)
    time_share: float | None = None  # of all worker time recorded in the window; None: none recorded


def wait_histograms(keys: Keys, minutes: list[int], users: list[str]) -> Plan[dict[str, Counter[int]]]:
    """Each user's queue-wait histogram (bucket -> tasks) summed over the given epoch minutes:
    one HMGET per minute for every user's buckets."""
    histograms: dict[str, Counter[int]] = {u: Counter() for u in users}
    fields = [f"{u}:{b}" for u in users for b in range(MAX_BUCKET + 1)]
    if not fields:
        return histograms
    for values in (yield [command("HMGET", keys.fair_wait(m), *fields) for m in minutes]):
        for i, value in enumerate(values):
            if value:
                histograms[users[i // (MAX_BUCKET + 1)]][i % (MAX_BUCKET + 1)] += int(value)
    return histograms


def worker_time(keys: Keys, minutes: list[int], users: list[str]) -> Plan[defaultdict[str, float]]:
    """Worker time (ms) per user, and "*" for everyone's, summed over the given minutes
    (fair:ms:<minute>, kept in time-fair mode). The ack writes no total (one write less per
    task): each minute is read whole, as many fields as tenants ran in it."""
    spent: defaultdict[str, float] = defaultdict(float)
    wanted = set(users)
    for row in (yield [command("HGETALL", keys.fair_ms(m)) for m in minutes]):
        for member, ms in row.items():
            with contextlib.suppress(ValueError):  # a hand edit
                value = float(ms)
                spent["*"] += value
                if member in wanted:
                    spent[member] += value
    return spent


class Fairness:
    """Reads of the per-minute fairness buckets (composed into Core as core.fairness)."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys

    def _minutes(self, minutes: int) -> Plan[list[int]]:
        sec, _ = yield command("TIME")
        now = int(sec) // 60
        return list(range(now - minutes + 1, now + 1))

    def fairness(self, minutes: int, top: int, users: list[str] | None) -> Plan[tuple[int, list[TenantService]]]:
        """(tasks served in all, [TenantService]) over the last `minutes`: for exactly `users`
        when given, else for the `top` most served (found among each minute's top 200)."""
        span = yield from self._minutes(minutes)
        k = self.keys
        if users is None:
            rows = yield [
                command("ZREVRANGE", k.fair_served(m), 0, TOP_PER_MINUTE, "WITHSCORES", parse=score_pairs) for m in span
            ]
            pairs = [pair for r in rows for pair in r]
        else:
            rows = yield [command("ZMSCORE", k.fair_served(m), "*", *users) for m in span] if users else []
            pairs = [(u, n) for r in rows for u, n in zip(["*", *users], r, strict=True) if n is not None]
        served: Counter[str] = Counter()
        for user, n in pairs:
            served[user] += int(float(n))
        grand = served.pop("*", 0)
        chosen = list(users) if users is not None else [u for u, _ in served.most_common(top)]
        histograms = yield from wait_histograms(k, span, chosen)
        spent = yield from worker_time(k, span, chosen)
        time_total = spent.pop("*", 0.0)
        return grand, [
            TenantService(
                u,
                served[u],
                served[u] / grand if grand else 0.0,
                percentile(histograms[u], 0.5),
                percentile(histograms[u], 0.95),
                spent[u],
                spent[u] / time_total if time_total else None,
            )
            for u in chosen
        ]
