"""Pure policy: retry delays and priority aging. Python decides, Lua applies."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter: base * factor**(n-1), capped, minus up to jitter x delay.

    With the defaults the n-th retry waits about 1, 2, 4, 8 ... s, at most 1 h;
    jitter 0.5 spreads each delay over [delay/2, delay] so failed tasks of a
    burst do not retry in lockstep.
    """

    base: float = 1.0
    factor: float = 2.0
    cap: float = 3600.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.base < 0 or self.factor < 1 or self.cap < 0 or not 0 <= self.jitter <= 1:
            raise ValueError("retry policy needs base >= 0, factor >= 1, cap >= 0, 0 <= jitter <= 1")

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before the retry that follows the `failures`-th failure (1-based)."""
        exponent = min(max(failures, 1) - 1, 64)
        try:
            raw = min(self.cap, self.base * self.factor**exponent)
        except OverflowError:
            raw = self.cap
        spread = (rng or random).random() * self.jitter
        return raw * (1.0 - spread)


def lane_score(enqueued_ms: int, priority: int, aging_ms: int) -> int:
    """Serve-order score of a task in priorities 1..5 (lower first); mirrors lua/lib/lanes.lua.

    A task of priority p outranks one of priority p + k only if it was
    enqueued more than k aging windows earlier, so a VERY_LOW task waits at
    most 4 windows behind newer HIGHER work (plus what was ahead of it).
    """
    return enqueued_ms - (priority - 1) * aging_ms


def max_aging_wait_ms(priority: int, aging_ms: int) -> int:
    """Longest time newer tasks of higher priority (1..5) can keep overtaking a task."""
    return (5 - priority) * aging_ms
