"""Coroutine tasks on an event loop the worker owns: one loop thread per worker
process runs many `async def` tasks at once, beside the thread pool.

A thread per coroutine would cap a worker at a few hundred webhook calls and
could never cancel one; here 200 in-flight calls cost 200 asyncio tasks, and a
timeout is asyncio.timeout, which cancels the coroutine (its `finally` runs).
Nothing here talks to Redis: every outcome goes to `report` (the dispatcher's
finished queue), so no blocking call ever runs on the loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .errors import TaskTimeout, UnknownTask
from .execution import Outcome
from .lease import Lease
from .task import Task

log = logging.getLogger("fairqueue.worker")

type AsyncExecutor = Callable[[Task], Awaitable[Any]]  # awaits a task (resolves its path, runs it)


class CoroutineRunner:
    def __init__(self, execute: AsyncExecutor, report: Callable[[Lease, Outcome], None]) -> None:
        self.execute = execute
        self.report = report  # called on the loop with every outcome; must not block
        self.loop = asyncio.new_event_loop()
        self.running: dict[str, asyncio.Task[None]] = {}  # token -> its task (touched on the loop only)
        self.abandoned: set[str] = set()  # tokens cancelled by stop(): their outcome is not reported
        self.thread = threading.Thread(target=self._serve, name="event-loop", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, lease: Lease) -> None:
        """From any thread: start running the leased task on the loop."""
        self.loop.call_soon_threadsafe(self._start, lease)

    def _start(self, lease: Lease) -> None:
        self.running[lease.token] = self.loop.create_task(self._run(lease), name=f"task-{lease.id}")

    async def _run(self, lease: Lease) -> None:
        task = lease.task
        started = time.perf_counter()
        try:
            outcome = await self._outcome(task)
        except BaseException as exc:  # noqa: BLE001 (the loop must outlive any task)
            # stop() marked its cancellations first: those leases are released, not reported;
            # any other CancelledError (a cancelled future the task awaited), SystemExit or
            # KeyboardInterrupt is the task's failure (asyncio would let the latter two end the loop)
            outcome = Outcome(False, error=exc)
        finally:
            self.running.pop(lease.token, None)
        if lease.token in self.abandoned:
            self.abandoned.discard(lease.token)
            return
        outcome.duration = time.perf_counter() - started
        self.report(lease, outcome)

    async def _outcome(self, task: Task) -> Outcome:
        if not task.timeout:
            return await self._call(task)
        deadline = asyncio.timeout(task.timeout)
        try:
            async with deadline:
                return await self._call(task)
        except TimeoutError:
            if not deadline.expired():
                raise
            return Outcome(
                False,
                error=TaskTimeout(f"task {task.id} ran longer than its {task.timeout:g} s timeout"),
                reason="timeout",
            )

    async def _call(self, task: Task) -> Outcome:
        try:
            return Outcome(True, await self.execute(task))
        except UnknownTask as exc:
            return Outcome(False, error=exc, reason="unknown_task", retry=False)
        except Exception as exc:  # the timeout is not among them: it reaches here as CancelledError
            return Outcome(False, error=exc)

    def stop(self, wait: float = 2.0) -> int:
        """From any thread: cancel what still runs (each coroutine's `finally` gets up to
        `wait` s), then stop the loop. Returns how many were cancelled."""
        done = threading.Event()
        count: list[int] = []

        async def cancel_all() -> None:
            running = list(self.running.items())
            count.append(len(running))
            for token, t in running:
                self.abandoned.add(token)
                t.cancel()
            tasks = [t for _, t in running]
            if tasks:
                await asyncio.wait(tasks, timeout=wait)
            done.set()

        if self.loop.is_closed() or not self.thread.is_alive():
            return 0
        asyncio.run_coroutine_threadsafe(cancel_all(), self.loop)
        if not done.wait(wait + 0.5):
            log.warning("coroutines did not finish cancelling within %.1f s", wait)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(0.5)
        return count[0] if count else 0
