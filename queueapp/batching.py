"""Many tasks, any tenants and options, one round trip:

    from queueapp import batch

    with batch() as b:
        for tenant, invoice in invoices:
            b.enqueue(send_invoice.using(user=tenant), invoice)
    # pushed here, pipelined in chunks of FAIRQUEUE["BATCH_CHUNK"]; b.results are READY

`async with batch() as b:` pushes through the asyncio client. Each call is checked
when it is added (the task's options and its arguments: a value that is not JSON
raises there). Leaving the block with an exception pushes nothing. A push that
fails part-way (Redis lost mid-pipeline, or REQUIRE_REGISTERED_TENANTS refusing a
chunk's unknown tenant: earlier chunks stay queued) raises; the ids stay in
b.tasks, and pushing those same tasks again is safe: a push is idempotent per id.
"""

from __future__ import annotations

from django.tasks import TaskResult
from django.tasks.signals import task_enqueued

from . import conf
from .backends import FairQueueBackend, ready_result
from .engine import Task as EngineTask
from .engine.task import encode_payload
from .task_errors import _as_invalid_task


class Batch:
    def __init__(self) -> None:
        self.tasks: list[EngineTask] = []
        self.results: list[TaskResult] = []
        self._made: list[tuple[type, TaskResult]] = []  # (backend class, result) per call, in order
        self.pushed = False
        self.max_payload = conf.engine_config().max_payload_bytes

    def enqueue(self, task, *args, **kwargs) -> TaskResult:
        """Add task(*args, **kwargs) (a FairQueue task, with .using() options); its result is
        READY now, the task is queued when the block ends."""
        if self.pushed:
            raise RuntimeError("this batch was pushed already: open a new `with batch()`")
        backend = task.get_backend()
        if not isinstance(backend, FairQueueBackend):
            raise TypeError(f"batch() takes FairQueue tasks; {task.module_path} uses {type(backend).__name__}")
        engine_task = backend._engine_task(task, args, kwargs)
        with _as_invalid_task():  # arguments that are not JSON: this call fails, not the push
            encode_payload(engine_task.args, engine_task.kwargs, self.max_payload)
        result = ready_result(task, engine_task.id, engine_task.args, engine_task.kwargs, backend.alias)
        self.tasks.append(engine_task)
        self._made.append((type(backend), result))
        return result

    def __len__(self) -> int:
        return len(self.tasks)

    def _done(self) -> None:
        """Pushed: the results made at each call, and task_enqueued for each, as enqueue sends it."""
        self.pushed = True
        self.results = [result for _, result in self._made]
        for sender, result in self._made:
            task_enqueued.send(sender, task_result=result)

    # -- sync ---------------------------------------------------------------
    def __enter__(self) -> Batch:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is not None or not self.tasks:
            return
        with _as_invalid_task():
            conf.get_queue().push_many(self.tasks)
        self._done()

    # -- async --------------------------------------------------------------
    async def __aenter__(self) -> Batch:
        return self

    async def __aexit__(self, kind, exc, tb) -> None:
        if kind is not None or not self.tasks:
            return
        with _as_invalid_task():
            await conf.get_async_queue().push_many(self.tasks)
        self._done()


def batch() -> Batch:
    return Batch()
