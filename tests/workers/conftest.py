"""Fixtures for tests that run real worker processes."""

from __future__ import annotations

import subprocess

import pytest

from tests.processes import start_command, start_worker, worker_env


@pytest.fixture
def env(redis_url, prefix, tmp_path):
    """Worker environment: fast retries and this test's prefix and ledger."""
    return worker_env(redis_url, prefix, ledger=f"ledger:{prefix}", FAIRQUEUE_RETRY_BASE=0.1,
                      FAIRQUEUE_RETRY_CAP=0.2, FQ_EVIL_MARKER=tmp_path / "evil-imported")


@pytest.fixture
def ledger(raw, env):
    key = env["FQ_LEDGER"]

    class Ledger:
        def runs(self, tag):
            return int(raw.hget(f"{key}:runs", tag) or 0)

        def done(self, tag):
            return int(raw.hget(f"{key}:done", tag) or 0)

        def running(self):
            return raw.scard(f"{key}:running")

        def overlaps(self):
            return raw.lrange(f"{key}:overlaps", 0, -1)

        def order(self):
            return raw.lrange(f"{key}:order", 0, -1)

    return Ledger()


@pytest.fixture
def workers(tmp_path):
    """Start workers; every one is killed at teardown if the test left it running."""
    procs: list[subprocess.Popen] = []

    def start(env, *args):
        proc = start_worker(env, *args, log=tmp_path / f"worker-{len(procs)}.log")
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)




@pytest.fixture
def schedulers(tmp_path):
    """Start `runscheduler` processes; any left running are killed at teardown."""
    procs: list[subprocess.Popen] = []

    def start(env, *args):
        proc = start_command(env, "runscheduler", *args, log=tmp_path / f"scheduler-{len(procs)}.log")
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
