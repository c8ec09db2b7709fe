"""RetryPolicy.delay, lane_score and max_aging_wait_ms: pure policy, table tests."""

from __future__ import annotations

import math
import random
import re
from pathlib import Path

import pytest

from queueapp.engine.backoff import RetryPolicy, lane_score, max_aging_wait_ms


class FixedRng:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


NO_JITTER = FixedRng(0.0)  # spread 0: the raw delay
FULL_JITTER = FixedRng(1.0)  # the (exclusive) upper end of random(): raw * (1 - jitter)


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        (1, 1.0),
        (2, 2.0),
        (3, 4.0),
        (4, 8.0),
        (5, 16.0),
        (12, 2048.0),
        (13, 3600.0),
        (40, 3600.0),
    ],
)
def test_default_policy_grows_exponentially_up_to_the_cap(failures, expected):
    assert RetryPolicy().delay(failures, NO_JITTER) == expected


@pytest.mark.parametrize(
    ("policy", "failures", "expected"),
    [
        (RetryPolicy(base=0.5, factor=3, cap=100), 1, 0.5),
        (RetryPolicy(base=0.5, factor=3, cap=100), 3, 4.5),
        (RetryPolicy(base=0.5, factor=3, cap=100), 6, 100.0),
        (RetryPolicy(base=5, factor=1), 9, 5.0),
        (RetryPolicy(base=0), 7, 0.0),
        (RetryPolicy(base=10, cap=0), 1, 0.0),
        (RetryPolicy(base=10, cap=15), 2, 15.0),
    ],
)
def test_custom_policies(policy, failures, expected):
    assert policy.delay(failures, NO_JITTER) == pytest.approx(expected)


@pytest.mark.parametrize("failures", [0, -1, -(10**9)])
def test_failures_below_one_count_as_the_first(failures):
    assert RetryPolicy().delay(failures, NO_JITTER) == 1.0


@pytest.mark.parametrize("failures", [65, 1000, 10**9, 2**200])
def test_huge_failure_counts_are_capped_without_overflow(failures):
    assert RetryPolicy().delay(failures, NO_JITTER) == 3600.0
    assert RetryPolicy(base=1, factor=100, cap=10**6).delay(failures, NO_JITTER) == 10**6


def test_huge_factor_is_capped_without_overflow():
    assert RetryPolicy(factor=1e5, cap=60).delay(100, NO_JITTER) == 60.0


@pytest.mark.parametrize(
    ("jitter", "rng", "factor_of_raw"),
    [
        (0.5, FULL_JITTER, 0.5),
        (0.5, FixedRng(0.5), 0.75),
        (0.2, FULL_JITTER, 0.8),
        (1.0, FULL_JITTER, 0.0),
        (1.0, FixedRng(0.25), 0.75),
        (0.0, FULL_JITTER, 1.0),
        (0.0, FixedRng(0.5), 1.0),
    ],
)
def test_jitter_takes_off_at_most_its_share(jitter, rng, factor_of_raw):
    policy = RetryPolicy(jitter=jitter)
    assert policy.delay(4, rng) == pytest.approx(8.0 * factor_of_raw)


@pytest.mark.parametrize("jitter", [0.1, 0.5, 1.0])
def test_seeded_delays_stay_within_jitter_bounds_and_vary(jitter):
    policy, rng = RetryPolicy(jitter=jitter), random.Random(1234)
    for failures in (1, 3, 6, 20):
        raw = min(3600.0, 2.0 ** (failures - 1))
        delays = [policy.delay(failures, rng) for _ in range(500)]
        assert all(raw * (1 - jitter) <= d <= raw for d in delays)
        assert len(set(delays)) > 400  # the jitter really spreads retries
        assert min(delays) < raw * (1 - jitter * 0.9)  # ... over (nearly) the whole range


def test_same_seed_same_delays():
    policy = RetryPolicy()
    a = [policy.delay(n, random.Random(7)) for n in range(1, 10)]
    b = [policy.delay(n, random.Random(7)) for n in range(1, 10)]
    assert a == b


def test_default_rng_is_module_random():
    random.seed(99)
    expected = 4.0 * (1 - random.random() * 0.5)
    random.seed(99)
    assert RetryPolicy().delay(3) == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base": -0.1},
        {"factor": 0.99},
        {"factor": 0},
        {"cap": -1},
        {"jitter": -0.01},
        {"jitter": 1.01},
    ],
)
def test_invalid_policies_are_refused(kwargs):
    with pytest.raises(ValueError, match="retry policy"):
        RetryPolicy(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base": 0},
        {"factor": 1},
        {"cap": 0},
        {"jitter": 0},
        {"jitter": 1},
        {"cap": math.inf},
    ],
)
def test_boundary_policies_are_accepted(kwargs):
    assert RetryPolicy(**kwargs).delay(1, NO_JITTER) >= 0


def test_policy_is_immutable():
    with pytest.raises(AttributeError):
        RetryPolicy().base = 2  # type: ignore[misc]


# -- priority aging -----------------------------------------------------------
AGING = 60_000


@pytest.mark.parametrize(
    ("enqueued", "priority", "aging", "expected"),
    [
        (1_000_000, 1, AGING, 1_000_000),
        (1_000_000, 2, AGING, 940_000),
        (1_000_000, 3, AGING, 880_000),
        (1_000_000, 5, AGING, 760_000),
        (1_000_000, 5, 0, 1_000_000),
        (0, 4, 1_000, -3_000),
    ],
)
def test_lane_score(enqueued, priority, aging, expected):
    assert lane_score(enqueued, priority, aging) == expected


@pytest.mark.parametrize(("priority", "levels_up"), [(1, 1), (1, 4), (2, 3), (4, 1)])
def test_an_older_task_outranks_higher_priority_only_after_enough_windows(priority, levels_up):
    """Lower score is served first; ties at exactly `levels_up` windows of waiting."""
    now = 10**12
    newer_higher = lane_score(now, priority + levels_up, AGING)
    waited = levels_up * AGING
    assert lane_score(now - waited, priority, AGING) == newer_higher
    assert lane_score(now - waited - 1, priority, AGING) < newer_higher
    assert lane_score(now - waited + 1, priority, AGING) > newer_higher


@pytest.mark.parametrize(
    ("priority", "aging", "expected"),
    [
        (1, AGING, 240_000),
        (2, AGING, 180_000),
        (3, 1_000, 2_000),
        (4, AGING, 60_000),
        (5, AGING, 0),
        (1, 0, 0),
    ],
)
def test_max_aging_wait(priority, aging, expected):
    assert max_aging_wait_ms(priority, aging) == expected


@pytest.mark.parametrize("priority", [1, 2, 3, 4])
def test_max_aging_wait_is_where_very_high_stops_overtaking(priority):
    wait = max_aging_wait_ms(priority, AGING)
    assert lane_score(0, priority, AGING) == lane_score(wait, 5, AGING)


def test_lua_lane_score_uses_the_same_formula():
    lanes = Path(__file__).resolve().parents[2] / "lua" / "lib" / "lanes.lua"
    body = re.search(r"local function lane_score\(now, prio, aging_ms\)\s*return (.+?)\s*end", lanes.read_text())
    assert body is not None
    assert body.group(1).replace(" ", "") == "now-(prio-1)*aging_ms"
