"""Registered tasks: dotted path -> task object, filled when a task is declared
(`@task` / `@django.tasks.task` with our backend). The worker runs a stored
path only if it is in here: it never imports a module named by data in Redis."""

from __future__ import annotations

from typing import Any

_tasks: dict[str, Any] = {}


def register(task: Any) -> None:
    _tasks.setdefault(task.module_path, task)


def lookup(path: str) -> Any | None:
    return _tasks.get(path)


def registered_paths() -> list[str]:
    return sorted(_tasks)
