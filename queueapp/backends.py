"""FairQueueBackend: Django's Tasks framework (django.tasks) on FairQueue.

TASKS = {"default": {"BACKEND": "queueapp.backends.FairQueueBackend"}}

@task(user="acme", max_retries=3)          # django.tasks.task
def send_invoice(invoice_id): ...

send_invoice.using(user="globex", priority=10).enqueue(42)
result = send_invoice.get_result(result_id)
"""

from __future__ import annotations

import types
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from django.tasks import TaskResult, TaskResultStatus
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.base import Task, TaskError
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
from django.tasks.signals import task_enqueued
from django.utils import timezone

from . import conf, registry
from .engine import InvalidTask as EngineInvalidTask
from .engine import Priority, State
from .engine import Task as EngineTask
from .engine.task import check_name
from .priorities import to_django, to_level

DEFAULT_USER = "default"
STATUS = {
    State.QUEUED: TaskResultStatus.READY,
    State.DEFERRED: TaskResultStatus.READY,
    State.RUNNING: TaskResultStatus.RUNNING,
    State.SUCCEEDED: TaskResultStatus.SUCCESSFUL,
}


class InvalidTaskArguments(InvalidTask, ValueError):
    """Arguments that are not JSON, or too large: refused at enqueue, nothing stored."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FairTask(Task):
    user: str = DEFAULT_USER  # the tenant this task runs for
    max_retries: int | None = None  # exception retries; None: FAIRQUEUE["MAX_RETRIES"]
    timeout: float | None = None  # seconds; the worker fails the task (reason 'timeout') past it

    def __post_init__(self):
        if isinstance(self.priority, Priority):  # @task(priority=Priority.HIGH) means the level
            object.__setattr__(self, "priority", to_django(self.priority))
        Task.__post_init__(self)
        if not getattr(self.func, "fairqueue_stand_in", False):
            registry.register(self)

    def using(
        self, *, priority=None, queue_name=None, run_after=None, backend=None, user=None, max_retries=None, timeout=None
    ):
        """Django's options plus the tenant and retry policy; run_after may be a timedelta."""
        if isinstance(run_after, timedelta):
            run_after = timezone.now() + run_after
        if isinstance(priority, Priority):
            priority = to_django(priority)
        task = Task.using(self, priority=priority, queue_name=queue_name, run_after=run_after, backend=backend)
        changes = {
            k: v for k, v in (("user", user), ("max_retries", max_retries), ("timeout", timeout)) if v is not None
        }
        return replace(task, **changes) if changes else task


class FairQueueBackend(BaseTaskBackend):
    task_class = FairTask
    supports_defer = True
    supports_priority = True
    supports_get_result = True
    supports_async_task = True

    def validate_task(self, task):
        super().validate_task(task)
        try:
            check_name("user", getattr(task, "user", DEFAULT_USER))
        except EngineInvalidTask as exc:
            raise InvalidTask(str(exc)) from exc
        retries = getattr(task, "max_retries", None)
        if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int) or retries < 0):
            raise InvalidTask(f"max_retries must be a non-negative integer, got {retries!r}")
        timeout = getattr(task, "timeout", None)
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < 86_400 * 7
        ):
            raise InvalidTask(f"timeout must be a number of seconds between 0 and 7 days, got {timeout!r}")

    # -- enqueue ------------------------------------------------------------
    def _engine_task(self, task, args, kwargs) -> EngineTask:
        self.validate_task(task)
        run_after = int(task.run_after.timestamp() * 1000) if task.run_after else None
        return EngineTask(
            func=task.module_path,
            args=list(args),
            kwargs=dict(kwargs),
            user=getattr(task, "user", DEFAULT_USER),
            priority=to_level(task.priority),
            queue=task.queue_name,
            max_retries=getattr(task, "max_retries", None),
            timeout=getattr(task, "timeout", None),
            run_after=run_after,
        )

    def _ready_result(self, task, engine_task: EngineTask) -> TaskResult:
        result = TaskResult(
            task=task,
            id=engine_task.id,
            status=TaskResultStatus.READY,
            enqueued_at=timezone.now(),
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=engine_task.args,
            kwargs=engine_task.kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        task_enqueued.send(type(self), task_result=result)
        return result

    def enqueue(self, task, args, kwargs):
        engine_task = self._engine_task(task, args, kwargs)
        with _as_invalid_task():
            conf.get_queue().push(engine_task)
        return self._ready_result(task, engine_task)

    def enqueue_many(self, task, calls: list[tuple[tuple, dict]]) -> list[TaskResult]:
        """Enqueue one task with many argument sets in one pipelined round trip."""
        engine_tasks = [self._engine_task(task, args, kwargs) for args, kwargs in calls]
        with _as_invalid_task():
            conf.get_queue().push_many(engine_tasks)
        return [self._ready_result(task, t) for t in engine_tasks]

    async def aenqueue(self, task, args, kwargs):
        engine_task = self._engine_task(task, args, kwargs)
        with _as_invalid_task():
            await conf.get_async_queue().push(engine_task)
        return self._ready_result(task, engine_task)

    # -- results ------------------------------------------------------------
    def get_result(self, result_id):
        return self._to_result(result_id, conf.get_queue().get_task(result_id))

    async def aget_result(self, result_id):
        return self._to_result(result_id, await conf.get_async_queue().get_task(result_id))

    def _to_result(self, result_id: str, stored: EngineTask | None) -> TaskResult:
        if stored is None:
            raise TaskResultDoesNotExist(result_id)
        result = TaskResult(
            task=self._task_for(stored),
            id=stored.id,
            status=STATUS.get(stored.state, TaskResultStatus.FAILED),
            enqueued_at=_dt(stored.enqueued_at),
            started_at=_dt(_first_start(stored)),
            last_attempted_at=_dt(stored.started_at),
            finished_at=_dt(stored.finished_at),
            args=stored.args,
            kwargs=stored.kwargs,
            backend=self.alias,
            errors=[
                TaskError(
                    exception_class_path=e.get("type") or "builtins.Exception",
                    traceback=e.get("traceback") or e.get("message", ""),
                )
                for e in _errors_of(stored)
            ],
            worker_ids=stored.worker_ids,
        )
        if stored.state == State.SUCCEEDED:
            object.__setattr__(result, "_return_value", stored.return_value)
        return result

    def _task_for(self, stored: EngineTask) -> Task:
        """The registered task with the options it was enqueued with, or a stand-in that names
        the path (never imports it, never registers)."""
        task = registry.lookup(stored.func)
        if task is None:
            module, _, name = stored.func.rpartition(".")
            stub = types.FunctionType(_unregistered.__code__, _unregistered.__globals__, name)
            stub.__module__, stub.__qualname__ = module or "unknown", name or "unknown"
            stub.fairqueue_stand_in = True
            task = FairTask(func=stub, backend=self.alias)
        return replace(
            task,
            user=stored.user or "unknown",  # a stand-in for an unreadable record may not know it
            priority=to_django(stored.priority),
            queue_name=stored.queue,
            max_retries=stored.max_retries,
            timeout=stored.timeout,
        )

    # -- system checks --------------------------------------------------------
    def check(self, **kwargs):
        return list(conf.check_engine())


def _unregistered(*args, **kwargs):
    raise LookupError("this task is not registered in this process")


def _first_start(stored: EngineTask) -> int | None:
    return next((h["at"] for h in stored.history if h.get("state") == "running"), stored.started_at)


def _dt(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, tz=UTC) if ms else None


class _as_invalid_task:
    """Engine validation errors surface as django.tasks InvalidTask (also a ValueError)."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if isinstance(exc, EngineInvalidTask):
            raise InvalidTaskArguments(str(exc)) from exc
        return False


def _errors_of(stored: EngineTask) -> list[dict]:
    """Every recorded failure; for a task that died without one (purged, a record that cannot be
    read), why it died, so a FAILED result always says why."""
    errors = stored.errors or ([stored.error] if stored.error else [])
    if not errors and stored.state in (State.DEAD, State.FAILED):
        reason = stored.dead_reason or "unknown"
        errors = [{"type": "fairqueue.DeadLettered", "message": f"dead-lettered with reason {reason!r}"}]
    return errors
