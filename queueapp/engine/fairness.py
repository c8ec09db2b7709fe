"""Reading the fairness buckets the pop script keeps: per minute, tasks served
per tenant (zset fair:n:<minute>) and a histogram of their queue waits (hash
fair:w:<minute>, field "<user>:<bucket>", quarter-octave buckets up to 80).
Reads are bounded: the top tenants by service, or the tenants of one page."""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .keys import Keys

Plan = Generator[Any, Any, Any]
MAX_BUCKET = 80


def score_pairs(rows: list) -> list[tuple[str, str]]:
    """WITHSCORES replies: flat [m, s, m, s] from a raw command, or already pairs."""
    if rows and isinstance(rows[0], (list, tuple)):
        return [tuple(r) for r in rows]
    return list(zip(rows[::2], rows[1::2], strict=True))


def bucket_upper_ms(bucket: int) -> float:
    """Longest wait counted in `bucket` (waits in [2^(b/4) - 1, 2^((b+1)/4) - 1) ms)."""
    return 2 ** ((bucket + 1) / 4) - 1


def percentile(histogram: Counter, q: float) -> float | None:
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


class FairnessPlans:
    keys: Keys

    def _minutes(self, minutes: int) -> Plan:
        sec, _ = yield self._cmd("TIME")
        now = int(sec) // 60
        return list(range(now - minutes + 1, now + 1))

    def fairness(self, minutes: int = 15, top: int = 20, users: list[str] | None = None) -> Plan:
        """(tasks served in all, [TenantService]) over the last `minutes`: for exactly `users`
        when given, else for the `top` most served (found among each minute's top 200)."""
        span = yield from self._minutes(minutes)
        k = self.keys
        if users is None:
            rows = yield [
                self._cmd("ZREVRANGE", k.fair_served(m), 0, 200, "WITHSCORES", parse=score_pairs) for m in span
            ]
            pairs = [pair for r in rows for pair in r]
        else:
            rows = yield [self._cmd("ZMSCORE", k.fair_served(m), "*", *users) for m in span] if users else []
            pairs = [(u, n) for r in rows for u, n in zip(["*", *users], r, strict=True) if n is not None]
        served: Counter = Counter()
        for user, n in pairs:
            served[user] += int(float(n))
        grand = served.pop("*", 0)
        chosen = list(users) if users is not None else [u for u, _ in served.most_common(top)]
        fields = [f"{u}:{b}" for u in chosen for b in range(MAX_BUCKET + 1)]
        waits = (yield [self._cmd("HMGET", k.fair_wait(m), *fields) for m in span]) if fields else []
        histograms: dict[str, Counter] = {u: Counter() for u in chosen}
        for values in waits:
            for i, value in enumerate(values):
                if value:
                    histograms[chosen[i // (MAX_BUCKET + 1)]][i % (MAX_BUCKET + 1)] += int(value)
        return grand, [
            TenantService(
                u,
                served[u],
                served[u] / grand if grand else 0.0,
                percentile(histograms[u], 0.5),
                percentile(histograms[u], 0.95),
            )
            for u in chosen
        ]
