"""How engine validation errors reach Django code: as django.tasks InvalidTask."""

from __future__ import annotations

from django.tasks.exceptions import InvalidTask

from .engine import InvalidTask as EngineInvalidTask


class InvalidTaskArguments(InvalidTask, ValueError):
    """Arguments that are not JSON, or too large: refused at enqueue, nothing stored."""


class _as_invalid_task:
    """Engine validation errors surface as django.tasks InvalidTask (also a ValueError)."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if isinstance(exc, EngineInvalidTask):
            raise InvalidTaskArguments(str(exc)) from exc
        return False
