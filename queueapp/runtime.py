"""What a worker process needs from Django: import the task modules so their
tasks register, and run a stored task by its registered path only (in a
thread, or awaited on the worker's event loop for an `async def` task)."""

from __future__ import annotations

import logging
from importlib import import_module
from traceback import format_exception

from asgiref.sync import iscoroutinefunction
from django.tasks import TaskContext, TaskResult, TaskResultStatus
from django.tasks.base import TaskError
from django.tasks.signals import task_finished, task_started
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules

from . import conf, registry
from .backends import _dt
from .engine import Task as EngineTask
from .engine.errors import InvalidTask, UnknownTask
from .engine.task import encode_json
from .xcom import running_task

log = logging.getLogger("fairqueue.worker")
_senders: dict[str, type] = {}  # backend alias -> its class (a worker's TASKS do not change)


def discover_tasks() -> list[str]:
    """Import every installed app's tasks.py and FAIRQUEUE["TASK_MODULES"]; returns the registered paths."""
    autodiscover_modules("tasks")
    for module in conf.task_modules():
        import_module(module)
    return registry.registered_paths()


def has_coroutine_tasks() -> bool:
    """Whether any registered task is an `async def` (a worker then starts its event loop)."""
    return any(iscoroutinefunction(t.func) for t in map(registry.lookup, registry.registered_paths()) if t)


def _registered(stored: EngineTask):
    task = registry.lookup(stored.func)
    if task is None:
        raise UnknownTask(f"{stored.func!r} is not a registered task (declare it with @task in a tasks module)")
    return task


def execute(stored: EngineTask):
    task = _registered(stored)
    token = running_task.set(stored)  # for xcom_push / xcom_pull
    result = _running_result(task, stored)
    _send(task_started, task, result)
    try:
        value = _call(task, stored, result, task.call)
    except BaseException as exc:
        _finished(task, result, exc)
        raise
    finally:
        running_task.reset(token)
    _finished(task, result, None, value)
    return value


async def aexecute(stored: EngineTask):
    """On the worker's event loop. Task.acall awaits a coroutine function and runs a sync
    one (a record marked async by hand) in a thread: the loop never blocks on it. The
    context variable is this asyncio task's own. Signal receivers run on the loop, as
    Django runs them for async tasks: keep them quick."""
    task = _registered(stored)
    running_task.set(stored)
    result = _running_result(task, stored)
    _send(task_started, task, result)
    try:
        value = await _call(task, stored, result, task.acall)
    except BaseException as exc:
        _finished(task, result, exc)
        raise
    _finished(task, result, None, value)
    return value


def _running_result(task, stored: EngineTask) -> TaskResult:
    """The attempt as Django's TaskResult: what task_started, task_finished and the task's
    context see (RUNNING now; the backend's get_result reads the stored record instead)."""
    now = timezone.now()
    return TaskResult(
        task=task,
        id=stored.id,
        status=TaskResultStatus.RUNNING,
        enqueued_at=_dt(stored.enqueued_at),
        started_at=now,
        last_attempted_at=now,
        finished_at=None,
        args=stored.args,
        kwargs=stored.kwargs,
        backend=task.backend,
        errors=[],
        worker_ids=stored.worker_ids,
    )


def _finished(task, result: TaskResult, exc: BaseException | None, value=None) -> None:
    """task_finished for this attempt: SUCCESSFUL, or FAILED with the error (sent inside the
    except block, so Django's own receiver logs the traceback). A failed attempt that will be
    retried still finishes FAILED here; its stored result reads READY until the retry. A
    coroutine cancelled (its timeout, or the worker stopping) finishes FAILED: every started
    attempt finishes. A return value that is not JSON is FAILED too (the worker records
    invalid_result for it)."""
    if exc is None:
        try:
            encode_json(value, "result")
        except InvalidTask as bad:
            exc = bad
    object.__setattr__(result, "finished_at", timezone.now())
    if exc is None:
        object.__setattr__(result, "status", TaskResultStatus.SUCCESSFUL)
        object.__setattr__(result, "_return_value", value)
    else:
        kind = type(exc)
        path, trace = f"{kind.__module__}.{kind.__qualname__}", "".join(format_exception(exc))
        result.errors.append(TaskError(exception_class_path=path, traceback=trace))
        object.__setattr__(result, "status", TaskResultStatus.FAILED)
    _send(task_finished, task, result)


def _send(signal, task, result: TaskResult) -> None:
    """A receiver that raises is logged, never the task's failure (send_robust). The sender
    is the backend's class, as Django's own backends send it."""
    sender = _senders.get(task.backend)
    if sender is None:
        sender = _senders[task.backend] = type(task.get_backend())
    for receiver, response in signal.send_robust(sender, task_result=result):
        if isinstance(response, Exception):
            log.error("a task signal receiver failed: %r", receiver, exc_info=response)


def _call(task, stored: EngineTask, result: TaskResult, call):
    if task.takes_context:
        return call(TaskContext(task_result=result), *stored.args, **stored.kwargs)
    return call(*stored.args, **stored.kwargs)
