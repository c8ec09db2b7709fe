"""Imported by a worker under test (FAIRQUEUE_TASK_MODULES): records every unpickling,
eval and shell-out the process attempts to FQ_AUDIT_FILE, through an audit hook
(sys.addaudithook) plus wrappers on pickle.loads/load and builtins.eval. A worker
handling planted bytes must leave that file empty."""

from __future__ import annotations

import builtins
import os
import pickle
import sys

_PATH = os.environ.get("FQ_AUDIT_FILE")
_EVENTS = {"pickle.find_class", "os.system", "subprocess.Popen", "os.exec", "os.posix_spawn"}


def _record(what: str) -> None:
    if _PATH:
        with open(_PATH, "a") as f:
            f.write(what + "\n")


def _hook(event: str, args) -> None:
    if event in _EVENTS:
        _record(f"{event} {args!r:.200}")


def _wrap(module, name: str) -> None:
    original = getattr(module, name)

    def spy(*args, **kwargs):
        _record(f"{module.__name__}.{name} called")
        return original(*args, **kwargs)

    setattr(module, name, spy)


if _PATH:
    sys.addaudithook(_hook)
    for _name in ("loads", "load"):
        _wrap(pickle, _name)
    _wrap(builtins, "eval")
