"""Issue 10, item 11: a test run leaves no fq-test-var-* directory in the
system temp directory (tests/settings.py created one per import, never removed)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.processes import ROOT


def clean_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FAIRQUEUE_VAR_DIR", "DJANGO_SETTINGS_MODULE")}
    env["TMPDIR"] = str(tmp_path)  # tempfile.gettempdir() of the child
    return env


def leftovers(tmp_path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("fq-test-var-"))


def test_a_pytest_run_removes_its_var_dir(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit/test_backoff.py"],
        cwd=ROOT,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert leftovers(tmp_path) == []


def test_a_child_process_reuses_the_inherited_var_dir(tmp_path):
    code = "import tests.settings as s, os; print(s.VAR_DIR); print(os.environ['FAIRQUEUE_VAR_DIR'])"
    env = clean_env(tmp_path)
    env["FAIRQUEUE_VAR_DIR"] = str(tmp_path / "inherited")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [str(tmp_path / "inherited")] * 2
    assert leftovers(tmp_path) == []  # nothing created for it (it used to mkdtemp on every import)
    assert (tmp_path / "inherited").is_dir()  # and what it was given is not removed by the child
