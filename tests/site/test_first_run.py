"""Issue 14: a new user copies the README's `manage.py` lines into a shell on the machine
where `make install` (or `make run`) ran: they run as printed, without a traceback, with
no SECRET_KEY or DEBUG exported; production still refuses to start without a key; the
Redis durability warning is for `manage.py check` and the daemons, not every command."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import ROOT, wait_for

pytestmark = pytest.mark.slow
README_LINE = re.compile(r"^\.venv/bin/python (manage\.py .+)$", re.M)


@pytest.fixture
def shell(tmp_path, redis_url, prefix):
    """A shell's environment on that machine: the site's own settings, nothing exported but
    what a user has anyway; var/ as `make install` and a running `make run` leave it."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FAIRQUEUE_", "DJANGO_")) and k not in ("SECRET_KEY", "DEBUG", "REDIS_URL", "DATABASE_URL")
    }
    env["FAIRQUEUE_VAR_DIR"] = str(tmp_path)
    env["FAIRQUEUE_PREFIX"] = prefix  # this test's keys only
    subprocess.run(["scripts/dev-secret-key.sh"], cwd=ROOT, env=env, check=True, capture_output=True)
    (tmp_path / "redis-url").write_text(f"{redis_url}\n{os.getpid()}\n")  # as make run writes it: URL, its pid
    run(env, "manage.py migrate --noinput -v 0")
    return env


def run(env, line: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *shlex.split(line)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def readme_lines() -> list[str]:
    lines = README_LINE.findall((ROOT / "README.md").read_text())
    assert len(lines) >= 2, lines  # the tour's enqueue and runworker lines
    return lines


def test_the_readmes_manage_py_lines_run_as_printed(shell):
    for line in readme_lines():
        if "runworker" in line:
            log = Path(shell["FAIRQUEUE_VAR_DIR"]) / "readme-worker.log"
            with open(log, "w") as out_file:
                proc = subprocess.Popen(
                    [sys.executable, *shlex.split(line)], cwd=ROOT, env=shell, stdout=out_file, stderr=subprocess.STDOUT
                )
            try:  # "starting": its signal handlers are set
                wait_for(lambda log=log: "starting: concurrency" in log.read_text(), timeout=60, what="start")
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
            out = log.read_text()
            assert proc.returncode == 0, out
        else:
            done = run(shell, line)
            out = done.stdout + done.stderr
            # the tour's billing.tasks is the reader's own app: an unknown task is a clear error
            assert done.returncode == 0 or out.startswith("CommandError: Unknown task"), out
        assert "Traceback" not in out and "ImproperlyConfigured" not in out, (line, out)
        assert "fairqueue.W002" not in out or "runworker" in line, (line, out)


def test_a_demo_task_is_enqueued_and_a_worker_runs_it(shell):
    done = run(shell, "manage.py enqueue queueapp.demo.echo --user acme --args [7]")
    assert done.returncode == 0 and re.fullmatch(r"[0-9a-f]{28}\n", done.stdout), done.stdout + done.stderr
    assert "W002" not in done.stderr  # not on every command
    worker = run(shell, "manage.py runworker --worker-id first-run --burst")
    assert worker.returncode == 0 and "outcome=succeeded" in worker.stderr + worker.stdout
    assert "fairqueue.W002" in worker.stderr  # the daemon says it once at its start


def test_manage_py_check_shows_the_durability_warning(shell):
    done = run(shell, "manage.py check")
    assert done.returncode == 0 and "fairqueue.W002" in done.stderr + done.stdout


def test_without_a_key_a_command_says_what_to_do_without_a_traceback(shell, tmp_path):
    (tmp_path / "secret-key").unlink()
    done = run(shell, "manage.py enqueue queueapp.demo.echo --user acme")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: SECRET_KEY is not set") and "make install" in done.stderr
    assert "Traceback" not in run(shell, "manage.py --help").stderr


def test_production_refuses_the_development_key(shell):
    done = run({**shell, "FAIRQUEUE_ENV": "production"}, "manage.py enqueue queueapp.demo.echo --user acme")
    assert done.returncode == 1 and done.stderr.startswith("error: SECRET_KEY is not set")
    ok = run(
        {**shell, "FAIRQUEUE_ENV": "production", "SECRET_KEY": "x" * 50, "REDIS_URL": shell_url(shell)},
        "manage.py enqueue queueapp.demo.echo --user acme",
    )
    assert ok.returncode == 0, ok.stderr


def shell_url(env) -> str:
    return (Path(env["FAIRQUEUE_VAR_DIR"]) / "redis-url").read_text().split()[0]


def test_the_dev_key_is_made_once_and_kept_private(shell, tmp_path):
    key = tmp_path / "secret-key"
    first = key.read_text()
    subprocess.run(["scripts/dev-secret-key.sh"], cwd=ROOT, env=shell, check=True, capture_output=True)
    assert key.read_text() == first and len(first) >= 64
    assert key.stat().st_mode & 0o077 == 0


def test_a_stale_redis_url_is_not_followed(shell, tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid is free now: a make run killed without cleaning up
    (tmp_path / "redis-url").write_text(f"redis://127.0.0.1:1/0\n{gone.pid}\n")
    done = run(shell, "manage.py shell -c 'from django.conf import settings; print(settings.REDIS_URL)'")
    assert done.stdout.strip().splitlines()[-1] == "redis://127.0.0.1:6379/0", done.stderr


def test_a_web_server_never_reads_the_development_key(shell):
    code = "import fairqueue_site.settings"
    env = {**shell, "DJANGO_SETTINGS_MODULE": "fairqueue_site.settings"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 1 and "SECRET_KEY is not set" in done.stderr  # not manage.py: no var/ key
