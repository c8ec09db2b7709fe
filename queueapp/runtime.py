"""What a worker process needs from Django: import the task modules so their
tasks register, and run a stored task by its registered path only (in a
thread, or awaited on the worker's event loop for an `async def` task)."""

from __future__ import annotations

from importlib import import_module

from asgiref.sync import iscoroutinefunction
from django.tasks import TaskContext, TaskResult, TaskResultStatus
from django.utils.module_loading import autodiscover_modules

from . import conf, registry
from .engine import Task as EngineTask
from .engine.errors import UnknownTask
from .xcom import running_task


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
    try:
        return _call(task, stored, task.call)
    finally:
        running_task.reset(token)


async def aexecute(stored: EngineTask):
    """On the worker's event loop. Task.acall awaits a coroutine function and runs a sync
    one (a record marked async by hand) in a thread: the loop never blocks on it. The
    context variable is this asyncio task's own."""
    task = _registered(stored)
    running_task.set(stored)
    return await _call(task, stored, task.acall)


def _call(task, stored: EngineTask, call):
    if task.takes_context:
        context = TaskContext(
            task_result=TaskResult(
                task=task,
                id=stored.id,
                status=TaskResultStatus.RUNNING,
                enqueued_at=None,
                started_at=None,
                last_attempted_at=None,
                finished_at=None,
                args=stored.args,
                kwargs=stored.kwargs,
                backend=task.backend,
                errors=[],
                worker_ids=stored.worker_ids,
            )
        )
        return call(context, *stored.args, **stored.kwargs)
    return call(*stored.args, **stored.kwargs)
