"""The fairness report's scenarios (tests/perf/fairness_report.py) in a tiny configuration:
the logical-clock simulation through the real engine must still show fair figures."""

from __future__ import annotations

import secrets

import pytest

from tests.perf import fairness_report as report

pytestmark = pytest.mark.slow
TINY = report.Options(tasks=30, workers=4, seed=1)


@pytest.fixture
def make(rclient, raw):
    tag = "t" + secrets.token_hex(4)
    yield report.queues(rclient, tag)
    keys = list(raw.scan_iter(match="{fair" + tag + ":*", count=1000))
    for i in range(0, len(keys), 1000):
        raw.delete(*keys[i : i + 1000])


def test_backlogs_and_weights_get_their_share_and_a_trickle_waits_one_task(make):
    skew = report.skew(make, TINY)
    assert skew["worst"] >= 0.95
    assert skew["makespan"] <= 1.01
    assert skew["small_p95"] < skew["big_p95"] / 5
    weights = report.weights(make, TINY)
    assert weights["count_worst"] >= 0.95
    assert weights["time_worst"] >= 0.95
    trickle = report.trickle(make, TINY)
    assert trickle["backlogged"] == 1
    assert trickle["p95"] <= report.HEAVY_MAX  # one task's time, not the heavy tenants' backlog
    assert trickle["heavy_p50"] * 1000 > 10 * trickle["p95"]


def test_time_mode_shares_worker_time_across_costs_and_count_mode_does_not(make):
    mixed = report.mixed(make, TINY)
    assert mixed["time_dev"] <= 0.10
    assert mixed["count_dev"] >= 0.5
    assert mixed["count_b"] < 0.05  # count mode: the 2 ms tenant gets a sliver of the worker time


def test_a_cap_binds_without_idling_workers_and_sub_keys_gain_no_share(make):
    caps = report.caps(make, TINY)
    assert caps["capped_c"] == report.CAP < caps["uncapped_c"]
    assert caps["busy_ratio"] >= 0.9
    assert caps["others_gain"] > 1  # the capacity C cannot use goes to the others
    sybil = report.sybil(make, TINY)
    assert sybil["dev"] <= 0.05


def test_the_table_marks_what_was_not_measured():
    table = report.rows({})
    assert any(row[2] == "not yet measured" for row in table)
