"""What a worker process needs from Django: import the task modules so their
tasks register, and run a stored task by its registered path only."""

from __future__ import annotations

from importlib import import_module

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


def execute(stored: EngineTask):
    task = registry.lookup(stored.func)
    if task is None:
        raise UnknownTask(f"{stored.func!r} is not a registered task (declare it with @task in a tasks module)")
    token = running_task.set(stored)  # for xcom_push / xcom_pull
    try:
        return _call(task, stored)
    finally:
        running_task.reset(token)


def _call(task, stored: EngineTask):
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
        return task.call(context, *stored.args, **stored.kwargs)
    return task.call(*stored.args, **stored.kwargs)
