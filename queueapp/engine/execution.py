"""Running one task: the call, its timeout, and what the worker reports.

Python cannot kill a thread. A task with a timeout runs in a thread of its
own; when the timeout passes the worker stops waiting, fails the task (reason
'timeout', retried per policy) and raises TaskTimeout inside the runaway
thread, which stops it at its next Python instruction (a blocking C call
finishes first). Tasks without a timeout run inline: no thread hop.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import TaskTimeout, UnknownTask
from .task import Task

Executor = Callable[[Task], Any]  # runs a task (resolves its path, calls it) and returns its result


@dataclass(slots=True)
class Outcome:
    ok: bool
    result: Any = None
    error: BaseException | None = None
    reason: str = "error"  # fail reason when not ok: error | timeout | unknown_task (invalid_result: the worker)
    retry: bool = True
    duration: float = 0.0


def run_task(execute: Executor, task: Task) -> Outcome:
    started = time.perf_counter()
    outcome = _run_with_timeout(execute, task, task.timeout) if task.timeout else _run_inline(execute, task)
    outcome.duration = time.perf_counter() - started
    return outcome


def _run_inline(execute: Executor, task: Task) -> Outcome:
    try:
        return Outcome(True, execute(task))
    except UnknownTask as exc:
        return Outcome(False, error=exc, reason="unknown_task", retry=False)
    except Exception as exc:
        return Outcome(False, error=exc)


def _run_with_timeout(execute: Executor, task: Task, timeout: float) -> Outcome:
    box: list[Outcome] = []
    thread = threading.Thread(
        target=lambda: box.append(_run_inline(execute, task)), name=f"task-{task.id}", daemon=True
    )
    thread.start()
    thread.join(timeout)
    if box:
        return box[0]
    _interrupt(thread)
    return Outcome(
        False, error=TaskTimeout(f"task {task.id} ran longer than its {timeout:g} s timeout"), reason="timeout"
    )


def _interrupt(thread: threading.Thread) -> None:
    """Raise TaskTimeout in `thread` at its next bytecode (CPython API)."""
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(TaskTimeout))
