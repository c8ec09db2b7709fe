"""The engine is usable from any Python process: importing it must not load Django.

Checked in a fresh interpreter because pytest-django has already imported Django here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import {module}
print(json.dumps(sorted(sys.modules)))
"""


def loaded_after_import(module: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def django_modules(modules: list[str]) -> list[str]:
    return [m for m in modules if m == "django" or m.startswith(("django.", "django_"))]


def test_repo_root_is_the_project():
    assert (REPO_ROOT / "queueapp" / "engine" / "__init__.py").is_file()


@pytest.mark.parametrize("module", ["queueapp.engine", "queueapp.engine.core"])
def test_engine_import_loads_no_django(module):
    modules = loaded_after_import(module)
    assert module in modules  # the probe really imported it
    assert django_modules(modules) == []


def test_app_package_import_loads_nothing():
    modules = loaded_after_import("queueapp")
    assert "queueapp" in modules
    assert django_modules(modules) == []
    assert [m for m in modules if m.startswith("queueapp.")] == []


def test_probe_detects_django():
    """Guards the checks above: the same probe does see Django when it is imported."""
    assert "django" in django_modules(loaded_after_import("django.conf"))


def import_cycles(package: str) -> list[list[str]]:
    """Every cycle in the module import graph of `package` (imports inside functions count too),
    each as [a, b, ..., a]; grimp (import-linter's graph) reads the source, nothing is imported."""
    import grimp

    graph = grimp.build_graph(package, include_external_packages=False, cache_dir=None)
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    # a parent package importing its own submodules (queueapp.engine -> queueapp.engine.core) is how
    # packages re-export; it is no cycle unless a submodule also imports a sibling back through it
    cycles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for nxt in edges[module]:
            if nxt.startswith(module + "."):
                continue
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[module] = "done"

    for module in modules:
        if module not in state:
            visit(module, [module])
    return cycles


def test_no_import_cycle_in_queueapp():
    assert import_cycles("queueapp") == []


def test_cycle_check_finds_a_cycle(tmp_path, monkeypatch):
    """Guards the check above: two modules importing each other (lazily, in a function) are found."""
    pkg = tmp_path / "cyclepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from . import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("cyclepkg") == [["cyclepkg.a", "cyclepkg.b", "cyclepkg.a"]]
