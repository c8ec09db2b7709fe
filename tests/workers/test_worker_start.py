"""A real `manage.py runworker` start: FairQueue's checks once (the durability warning
printed one time, not by Django's suite and again by the worker), then it serves."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_runworker_shows_the_durability_warning_once(queue, env, workers, tmp_path):
    assert workers(env, "--worker-id", "w1", "--burst").wait(60) == 0
    log = (tmp_path / "runworker-0.log").read_text()
    assert log.count("Redis keeps nothing on disk") == 1 and "fairqueue.W002" in log
    assert "worker w1: " in log


def test_runworker_skip_checks_still_warns_once(queue, env, workers, tmp_path):
    assert workers(env, "--worker-id", "w1", "--burst", "--skip-checks").wait(60) == 0
    log = (tmp_path / "runworker-0.log").read_text()
    assert log.count("Redis keeps nothing on disk") == 1 and "System check" not in log
