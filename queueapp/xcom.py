"""XCom: small JSON values tasks hand to each other, seed-style.

    from queueapp import xcom_push, xcom_pull, xcom_task

Values are scoped to the tenant and, inside a pipeline, to the pipeline run: two
runs of one pipeline never read each other's values. They expire after
FAIRQUEUE["XCOM_TTL"] seconds (default a day) and are limited to
FAIRQUEUE["XCOM_MAX_BYTES"] of JSON each (default 64 KiB).

Inside an `async def` task use `await axcom_push(...)` / `await axcom_pull(...)`:
the same operations on the async client, so the worker's event loop never
blocks on Redis (the sync ones work there too, but hold up every coroutine).
"""

from __future__ import annotations

import functools
import inspect
from contextvars import ContextVar
from dataclasses import replace

from django.tasks import Task

from . import conf
from .engine import State
from .engine import Task as EngineTask
from .engine.workflows import TENANT_SCOPE
from .task_errors import _as_invalid_task

_MISSING = object()
# the stored task being executed by this worker thread (or coroutine), set by runtime.execute
running_task: ContextVar[EngineTask | None] = ContextVar("fairqueue_running_task", default=None)


def _scope(user: str | None, pipeline: str | None) -> tuple[str, str]:
    current = running_task.get()
    if user is None:
        if current is None:
            raise RuntimeError("xcom_push/xcom_pull outside a running task need user= (and pipeline= for a run)")
        user = current.user
        if pipeline is None:
            pipeline = current.pipeline
    return user, pipeline or TENANT_SCOPE


def xcom_push(key: str, value, *, ttl: int | None = None, user: str | None = None, pipeline: str | None = None):
    """Store `value` (JSON) under `key` in the running task's tenant and pipeline run."""
    scope_user, ns = _scope(user, pipeline)
    with _as_invalid_task():
        conf.get_queue().xcom_push(scope_user, ns, key, value, ttl)


def xcom_pull(
    key: str | None = None,
    default=None,
    *,
    task_id: str | None = None,
    step: str | None = None,
    user: str | None = None,
    pipeline: str | None = None,
):
    """A value pushed under `key`; or, with task_id= or step= (a step of this pipeline run), that
    task's return value once it has succeeded. `default` when there is none (yet, or any more)."""
    plan = _pull(key, default, task_id, step, user, pipeline)
    queue = conf.get_queue()
    with _as_invalid_task():
        try:
            name, args = next(plan)
            while True:
                name, args = plan.send(getattr(queue, name)(*args))
        except StopIteration as done:
            return done.value


async def axcom_push(key: str, value, *, ttl: int | None = None, user: str | None = None, pipeline: str | None = None):
    """xcom_push for coroutine tasks (the async client: nothing blocks the event loop)."""
    scope_user, ns = _scope(user, pipeline)
    with _as_invalid_task():
        await conf.get_async_queue().xcom_push(scope_user, ns, key, value, ttl)


async def axcom_pull(
    key: str | None = None,
    default=None,
    *,
    task_id: str | None = None,
    step: str | None = None,
    user: str | None = None,
    pipeline: str | None = None,
):
    """xcom_pull for coroutine tasks (the async client: nothing blocks the event loop)."""
    plan = _pull(key, default, task_id, step, user, pipeline)
    queue = conf.get_async_queue()
    with _as_invalid_task():
        try:
            name, args = next(plan)
            while True:
                name, args = plan.send(await getattr(queue, name)(*args))
        except StopIteration as done:
            return done.value


def _pull(key, default, task_id, step, user, pipeline):
    """xcom_pull's steps, once for both clients: yields (queue operation, arguments) and is sent
    each answer (the engine's plans do the same for its own operations)."""
    scope_user, ns = _scope(user, pipeline)
    if step is not None:
        run = (yield "pipeline", (ns,)) if ns != TENANT_SCOPE else None
        task_id = run.steps.get(step) if run else None
        if task_id is None:
            return default
    if task_id is not None:
        stored = yield "get_task", (task_id,)
        if stored is None or stored.state != State.SUCCEEDED or stored.user != scope_user:
            return default
        return stored.return_value
    if key is None:
        raise TypeError("xcom_pull needs a key, a task_id= or a step=")
    found, value = yield "xcom_pull", (scope_user, ns, key)
    return value if found else default


def xcom_task(key: str):
    """Store the task's return value under `key` as well (put it below @task, or above it)."""

    def decorate(function):
        if isinstance(function, Task):
            return replace(function, func=decorate(function.func))
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(*args, **kwargs):
                value = await function(*args, **kwargs)
                await axcom_push(key, value)
                return value

            return async_wrapper

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            value = function(*args, **kwargs)
            xcom_push(key, value)
            return value

        return wrapper

    return decorate


__all__ = ["axcom_pull", "axcom_push", "running_task", "xcom_pull", "xcom_push", "xcom_task"]
