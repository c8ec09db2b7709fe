"""FairQueueBackend: Django's Tasks framework (django.tasks) on FairQueue.

TASKS = {"default": {"BACKEND": "queueapp.backends.FairQueueBackend"}}

@task(user="acme", max_retries=3)          # django.tasks.task
def send_invoice(invoice_id): ...

send_invoice.using(user="globex", priority=10).enqueue(42)
result = send_invoice.get_result(result_id)
"""

from __future__ import annotations

import contextlib
import types
import weakref
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from functools import cache

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.tasks import TaskResult, TaskResultStatus, task_backends
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.base import DEFAULT_TASK_PRIORITY, TASK_MAX_PRIORITY, TASK_MIN_PRIORITY, Task, TaskError
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
from django.tasks.signals import task_enqueued
from django.utils import timezone

from . import conf, registry
from .engine import InvalidTask as EngineInvalidTask
from .engine import Priority, State
from .engine import Task as EngineTask
from .engine.task import check_name, cost_text
from .priorities import to_django, to_level
from .task_errors import InvalidTaskArguments, _as_invalid_task
from .workflows import BoundTask, dependency_ids

__all__ = ["FairQueueBackend", "FairTask", "InvalidTaskArguments"]

DEFAULT_USER = "default"
OVERLAP_MIN = 64  # enqueue_many pushes from a thread of its own from this many calls on (engine/background.py)
STATUS = {
    State.QUEUED: TaskResultStatus.READY,
    State.DEFERRED: TaskResultStatus.READY,
    State.RUNNING: TaskResultStatus.RUNNING,
    State.SUCCEEDED: TaskResultStatus.SUCCESSFUL,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class FairTask(Task):
    user: str = DEFAULT_USER  # the tenant this task runs for
    max_retries: int | None = None  # exception retries; None: FAIRQUEUE["MAX_RETRIES"]
    timeout: float | None = None  # seconds; the worker fails the task (reason 'timeout') past it
    depends_on: tuple[str, ...] = ()  # ids (or TaskResults) that must succeed first (docs/workflows.md)
    on_dependency_failure: str = "cancel"  # or "block": wait until the dependency is requeued and succeeds
    cost: float | None = None  # expected worker time in ms: what time-fair mode charges (None: measured)
    subkey: str | None = None  # the tenant's own user or project: served fairly among its others

    def __post_init__(self):
        if isinstance(self.priority, Priority):  # @task(priority=Priority.HIGH) means the level
            object.__setattr__(self, "priority", to_django(self.priority))
        Task.__post_init__(self)  # the backend's validate_task
        if not getattr(self.func, "fairqueue_stand_in", False):
            registry.register(self)

    def get_backend(self):
        """Task.get_backend without its per-call import (on every using() and enqueue)."""
        return task_backends[self.backend]

    def using(
        self,
        *,
        priority=None,
        queue_name=None,
        run_after=None,
        backend=None,
        user=None,
        max_retries=None,
        timeout=None,
        depends_on=None,
        on_dependency_failure=None,
        cost=None,
        subkey=None,
    ):
        """Django's options plus the tenant, retry policy and dependencies; run_after may be a
        timedelta. One copy, validated once (Task.using then a replace made and checked two)."""
        if depends_on is not None:
            depends_on = dependency_ids(depends_on)
        if isinstance(run_after, timedelta):
            run_after = timezone.now() + run_after
        if isinstance(priority, Priority):
            priority = to_django(priority)
        options = {name: getattr(self, name) for name in _init_fields(type(self))}
        for name, value in (
            ("priority", priority),
            ("queue_name", queue_name),
            ("run_after", run_after),
            ("backend", backend),
            ("user", user),
            ("max_retries", max_retries),
            ("timeout", timeout),
            ("depends_on", depends_on),
            ("on_dependency_failure", on_dependency_failure),
            ("cost", cost),
            ("subkey", subkey),
        ):
            if value is not None:
                options[name] = value
        return type(self)(**options)

    def bind(self, *args, **kwargs):
        """This task with these arguments, not yet enqueued: a pipeline step (docs/workflows.md)."""
        return BoundTask(self, args, kwargs)


@cache
def _init_fields(cls: type) -> tuple[str, ...]:
    """What dataclasses.replace copies, found once per class instead of on every using()."""
    return tuple(f.name for f in fields(cls) if f.init)


class FairQueueBackend(BaseTaskBackend):
    task_class = FairTask
    supports_defer = True
    supports_priority = True
    supports_get_result = True
    supports_async_task = True

    def validate_task(self, task):
        """Django's checks, then the tenant, retries and timeout. What depends only on the
        function (module level, coroutine, context argument: inspect work) is checked once
        per function; the options are checked on every call (using() and enqueue)."""
        func = task.func
        key = (task.takes_context, self.supports_async_task)
        try:
            known = key in _valid_functions.get(func, ())
        except TypeError:  # not hashable or no weak reference: never cached
            known = False
        if known:
            self._validate_options(task)
        else:
            super().validate_task(task)
            with contextlib.suppress(TypeError):
                _valid_functions.setdefault(func, set()).add(key)
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
        cost, subkey = getattr(task, "cost", None), getattr(task, "subkey", None)
        try:
            if cost is not None:
                cost_text(cost)
            if subkey is not None:
                check_name("subkey", subkey)
        except EngineInvalidTask as exc:
            raise InvalidTask(str(exc)) from exc
        policy = getattr(task, "on_dependency_failure", "cancel")
        if policy not in ("cancel", "block"):
            raise InvalidTask(f"on_dependency_failure must be 'cancel' or 'block', got {policy!r}")

    def _validate_options(self, task):
        """BaseTaskBackend.validate_task past its function checks: same checks, order, messages."""
        priority = task.priority
        if not self.supports_priority and priority != DEFAULT_TASK_PRIORITY:
            raise InvalidTask("Backend does not support setting priority of tasks.")
        if priority < TASK_MIN_PRIORITY or priority > TASK_MAX_PRIORITY or int(priority) != priority:
            raise InvalidTask(f"priority must be a whole number between {TASK_MIN_PRIORITY} and {TASK_MAX_PRIORITY}.")
        run_after = task.run_after
        if run_after is not None:
            if not self.supports_defer:
                raise InvalidTask("Backend does not support run_after.")
            if settings.USE_TZ and not timezone.is_aware(run_after):
                raise InvalidTask("run_after must be an aware datetime.")
        if self.queues and task.queue_name not in self.queues:
            raise InvalidTask(f"Queue '{task.queue_name}' is not valid for backend.")

    # -- enqueue ------------------------------------------------------------
    def _engine_task(self, task, args, kwargs) -> EngineTask:
        return EngineTask(args=list(args), kwargs=dict(kwargs), **self._engine_fields(task))

    def _engine_fields(self, task) -> dict:
        """The engine task's fields that come from the (validated) task, not its arguments."""
        self.validate_task(task)
        return {
            "func": task.module_path,
            "user": getattr(task, "user", DEFAULT_USER),
            "priority": to_level(task.priority),
            "queue": task.queue_name,
            "max_retries": getattr(task, "max_retries", None),
            "timeout": getattr(task, "timeout", None),
            "run_after": int(task.run_after.timestamp() * 1000) if task.run_after else None,
            "depends_on": getattr(task, "depends_on", ()),
            "on_dependency_failure": getattr(task, "on_dependency_failure", "cancel"),
            "coroutine": iscoroutinefunction(task.func),
            "cost": getattr(task, "cost", None),
            "subkey": getattr(task, "subkey", None),
        }

    def _ready_result(
        self, task, task_id: str, args: list, kwargs: dict, enqueued_at: datetime | None = None
    ) -> TaskResult:
        result = ready_result(task, task_id, args, kwargs, self.alias, enqueued_at)
        task_enqueued.send(type(self), task_result=result)
        return result

    def enqueue(self, task, args, kwargs):
        engine_task = self._engine_task(task, args, kwargs)
        with _as_invalid_task():
            conf.get_queue().push(engine_task)
        return self._ready_result(task, engine_task.id, engine_task.args, engine_task.kwargs)

    def enqueue_many(self, task, calls: list[tuple[tuple, dict]]) -> list[TaskResult]:
        """Enqueue one task with many argument sets in one pipelined round trip: its options are
        validated and encoded once (push_each), each argument set adds its id and payload. A big
        batch is pushed from a thread of its own (engine/background.py) while its results are built;
        task_enqueued is sent once the push succeeded."""
        template = EngineTask(**self._engine_fields(task))
        arg_sets = [(list(args), dict(kwargs)) for args, kwargs in calls]
        queue = conf.get_queue()
        ids = queue.new_ids(template.user, len(arg_sets))
        with _as_invalid_task():
            pending = None
            if len(arg_sets) >= OVERLAP_MIN:
                pending = queue.start_push_each(template, arg_sets, ids)
            else:
                queue.push_each(template, arg_sets, ids)
            try:
                now = timezone.now()
                results = [
                    ready_result(task, i, a, k, self.alias, now) for i, (a, k) in zip(ids, arg_sets, strict=True)
                ]
            finally:  # never return (or raise) with the push still in flight
                if pending is not None:
                    pending.result()
        for result in results:
            task_enqueued.send(type(self), task_result=result)
        return results

    async def aenqueue(self, task, args, kwargs):
        engine_task = self._engine_task(task, args, kwargs)
        with _as_invalid_task():
            await conf.get_async_queue().push(engine_task)
        return self._ready_result(task, engine_task.id, engine_task.args, engine_task.kwargs)

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
        """Run before every management command: the Redis durability warnings only for
        `manage.py check` (workers and the scheduler print them at their own start)."""
        return list(conf.check_engine(durability=conf.running_check_command()))


def _unregistered(*args, **kwargs):
    raise LookupError("this task is not registered in this process")


def _first_start(stored: EngineTask) -> int | None:
    return next((h["at"] for h in stored.history if h.get("state") == "running"), stored.started_at)


def _dt(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, tz=UTC) if ms else None


def ready_result(
    task, result_id: str, args: list, kwargs: dict, backend: str, enqueued_at: datetime | None = None
) -> TaskResult:
    """The READY TaskResult enqueue returns (enqueued_at: now, unless a batch passes its one time)."""
    return TaskResult(
        task=task,
        id=result_id,
        status=TaskResultStatus.READY,
        enqueued_at=enqueued_at or timezone.now(),
        started_at=None,
        last_attempted_at=None,
        finished_at=None,
        args=args,
        kwargs=kwargs,
        backend=backend,
        errors=[],
        worker_ids=[],
    )


# functions that passed BaseTaskBackend's function checks, with the (takes_context,
# supports_async_task) they passed with; weak, so stand-ins for unregistered paths go away
_valid_functions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _errors_of(stored: EngineTask) -> list[dict]:
    """Every recorded failure; for a task that died without one (purged, a record that cannot be
    read), why it died, so a FAILED result always says why."""
    errors = stored.errors or ([stored.error] if stored.error else [])
    if not errors and stored.state in (State.DEAD, State.FAILED):
        reason = stored.dead_reason or "unknown"
        errors = [{"type": "fairqueue.DeadLettered", "message": f"dead-lettered with reason {reason!r}"}]
    return errors
