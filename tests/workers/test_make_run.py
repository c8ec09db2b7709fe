"""`make run` as a new user meets it: a URL and a login are printed, the page
answers, the login works, the worker drains the demo tasks, Ctrl-C stops all."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import subprocess
import urllib.parse
import urllib.request

import pytest

from queueapp.engine import EngineConfig, FairQueue, RedisOptions, connect
from tests.processes import ROOT, wait_for
from tests.redis_server import free_port

pytestmark = pytest.mark.slow


def test_make_run_serves_the_demo_and_stops_cleanly(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY")}
    env.update(PORT=str(port), FAIRQUEUE_VAR_DIR=str(tmp_path / "var"), DEMO_NOISY="300")
    out = open(tmp_path / "run.log", "w+")  # noqa: SIM115
    proc = subprocess.Popen(
        ["bash", "scripts/run.sh"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        text = wait_for(lambda: _read(out) if "Press Ctrl-C" in _read(out) else "", timeout=90, what="startup")
        url = re.search(r"URL:\s+(\S+)", text).group(1)
        login = re.search(r"login: admin / (\S+)", text)
        redis_url = re.search(r"Redis:\s+(\S+)", text).group(1)
        assert url == f"http://127.0.0.1:{port}/" and login
        assert urllib.request.urlopen(url, timeout=5).status == 200
        assert _logs_in(url, "admin", login.group(1))
        queue = FairQueue(connect(RedisOptions(url=redis_url)), EngineConfig())
        wait_for(
            lambda: queue.stats()["queued"] == 0 and queue.stats()["running"] == 0,
            timeout=60,
            what="the worker to drain the demo tasks",
        )
        assert queue.stats()["succeeded"] >= 300 + 24
        assert {w.worker for w in queue.workers()} == {"worker-001", "worker-002"}
        assert queue.worker_config("worker-001").assigned == ("user:1", "user:3", "user:5")
        wait_for(lambda: queue.get_task(_last_task(queue, "demo-ping")), timeout=20, what="the demo schedule firing")
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
        assert proc.wait(30) == 0 or proc.returncode in (130, -signal.SIGINT)
    assert "stopped." in _read(out)
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout
    assert leftovers.strip() == ""


def _logs_in(url: str, username: str, password: str) -> bool:
    """Django's login form with its CSRF token; True when it redirects away from the form."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(url + "login/", timeout=5).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token}).encode()
    response = opener.open(urllib.request.Request(url + "login/", data=data, headers={"Referer": url}), timeout=5)
    return not response.url.endswith("/login/")


def _last_task(queue, schedule: str) -> str:
    return queue.redis.hget(queue.config.keys.schedule_state(schedule), "last_task_id") or "none"


def _read(handle) -> str:
    handle.flush()
    handle.seek(0)
    return handle.read()
