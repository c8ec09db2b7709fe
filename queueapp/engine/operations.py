"""The client surface, declared once (redis-py's approach): every operation is a
Plan built by the core, handed to `_run`. FairQueue's `_run` executes it and
returns the value; AsyncFairQueue's returns a coroutine of the same value. The
defaults callers rely on live here and nowhere else.

Adding an operation: a Lua script (lua/<name>.lua), a Core (or Reads) method
returning a Plan, and one method here. The two client files do not change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .call import Plan, then
from .config import EngineConfig
from .core import Core
from .fairness import TenantService
from .lease import Ack, Exchange, FailOutcome, Lease, PushResult, Repair
from .metrics_reads import MetricsSnapshot, metrics_snapshot
from .reads import ConfigSnapshot, Page
from .settings import ScheduleSpec, TenantSettings, WorkerReport, WorkerSettings
from .task import Priority, Task, new_task_id
from .workflows import PipelineRun, WaitingRepair

PAGE = 50  # default page size of every listing
BULK_BATCH = 200  # ids per script call in purge and the DLQ bulk actions
REPAIR_BATCH = 500  # tenants examined per repair_ready script call
REPORTS = 1000  # most recent worker reports read
RECENT = 20  # finished tasks shown per tenant
FAIRNESS_MINUTES, FAIRNESS_TOP = 15, 20
IDLE_WITHIN_MS = 1000  # a burst worker exits when nothing is due sooner than this
type Name = str | None
type Progress = Callable[[int], None] | None  # called with the running count after each batch


def _none(_: object) -> None:
    return None


class Operations:
    """Every queue operation. Subclasses provide `_run` (sync: the value; async: an awaitable)."""

    config: EngineConfig
    core: Core

    def _run[T](self, plan: Plan[T]) -> T:
        raise NotImplementedError

    def _sent[T](self, plan: Plan[T]) -> Any:
        """The plan's first call written, its reply read later (sync, a held connection: a
        Sent; otherwise None)."""
        raise NotImplementedError

    def _start[T](self, plan: Plan[T]) -> Any:
        """The plan's first step taken here, the rest under way: sync, on a thread of its own
        (an InBackground: .result() waits); async, a coroutine to await (or to hand to
        asyncio.ensure_future to let it run meanwhile)."""
        raise NotImplementedError

    # -- producer ---------------------------------------------------------
    def push(self, task: Task) -> PushResult:
        return self._run(self.core.push(task))

    def push_many(self, tasks: Iterable[Task]) -> list[PushResult]:
        """All tasks in one pipelined round trip (chunks of config.batch_chunk per script call)."""
        return self._run(self.core.push_many(tasks))

    def push_each(
        self, task: Task, calls: Sequence[tuple[Sequence[Any], dict[str, Any]]], ids: Sequence[str] | None = None
    ) -> list[PushResult]:
        """`task` once per (args, kwargs) in `calls`, each with its own id (task.id is not used;
        `ids` from new_ids(), or new ones), in one pipelined round trip: a batch of one task's
        calls at the cost of its payloads."""
        return self._run(self.core.push_each(task, calls, self.new_ids(task.user, len(calls)) if ids is None else ids))

    def start_push_each(
        self, task: Task, calls: Sequence[tuple[Sequence[Any], dict[str, Any]]], ids: Sequence[str]
    ) -> Any:
        """push_each with its calls checked and encoded here (a bad one raises here, nothing
        sent) and its round trip under way while the caller goes on (see _start). For big
        batches: enqueue_many builds its TaskResults meanwhile. ids from new_ids()."""
        return self._start(self.core.push_each(task, calls, ids))

    def new_ids(self, user: str, n: int) -> list[str]:
        """Ids for n new tasks of `user`, as push would make them: a caller that needs them
        before the push returns (enqueue_many builds its results meanwhile) passes them to it."""
        return [new_task_id() for _ in range(n)]

    def cancel(self, task_id: str) -> None:
        return self._run(self.core.cancel(task_id))

    # -- workflows (docs/workflows.md) -------------------------------------
    def push_pipeline(self, run: str, user: str, name: str, tasks: Sequence[Task]) -> list[PushResult]:
        """One pipeline run, atomically, in one round trip; `tasks` in topological order."""
        return self._run(self.core.push_pipeline(run, user, name, tasks))

    def cancel_pipeline(self, run: str) -> int:
        return self._run(self.core.cancel_pipeline(run))

    def pipeline(self, run: str) -> PipelineRun | None:
        return self._run(self.core.reads.pipeline(run))

    def pipelines(self, offset: int = 0, limit: int = PAGE, user: Name = None) -> tuple[list[PipelineRun], int]:
        return self._run(self.core.reads.pipelines(offset, limit, user))

    def task_states(self, ids: Sequence[str]) -> dict[str, str | None]:
        return self._run(self.core.reads.task_states(ids))

    def dependency_links(self, task_id: str) -> tuple[list[str], list[str]]:
        """(ids the task still waits on, ids waiting on it)."""
        return self._run(self.core.reads.dependency_links(task_id))

    def index_ids(self, index: str, user: Name = None, limit: int = PAGE) -> list[str]:
        """Ids in a task index: running, delayed, waiting, dead, or a tenant's queued / recent."""
        return self._run(self.core.reads.index_ids(index, user, limit))

    def tenants_by(self, index: str, limit: int = PAGE) -> list[str]:
        """Tenants by backlog ("backlog"), or every tenant seen ("seen")."""
        return self._run(self.core.reads.tenants_by(index, limit))

    def tasks(self, ids: Sequence[str]) -> list[Task]:
        """The records of `ids` that exist, as stand-ins where they cannot be read."""
        return self._run(self.core.reads.tasks(list(ids)))

    def xcom_push(self, user: str, ns: str, key: str, value: Any, ttl: int | None = None) -> None:
        cfg = self.config
        ttl = cfg.xcom_ttl if ttl is None else ttl
        return self._run(self.core.xcom_push(user, ns, key, value, ttl, cfg.xcom_max_bytes))

    def xcom_pull(self, user: str, ns: str, key: str) -> tuple[bool, Any]:
        """(found, value): a value that expired is not found."""
        return self._run(self.core.reads.xcom_pull(user, ns, key))

    def xcom_values(self, user: str, ns: str) -> dict[str, Any]:
        return self._run(self.core.reads.xcom_values(user, ns))

    def repair_waiting(self, dry_run: bool = False, batch: int = REPAIR_BATCH) -> WaitingRepair:
        """Release tasks left waiting on dependencies that have succeeded (manage.py syncqueue)."""
        return self._run(self.core.repair_waiting(dry_run, batch))

    def xcom_clear(self, user: str) -> int:
        return self._run(self.core.xcom_clear(user))

    # -- consumer ---------------------------------------------------------
    def pop(self, worker: str, lease_seconds: float | None = None) -> Lease | None:
        return self._run(self.core.pop(worker, lease_seconds))

    def ack(self, lease: Lease, result: Any = None) -> None:
        return self._run(self.core.ack(lease, result))

    def ack_and_pop(self, lease: Lease, result: Any = None, lease_seconds: float | None = None) -> Lease | None:
        return self._run(self.core.ack_and_pop(lease, result, lease_seconds))

    def send_pop(self, worker: str, lease_seconds: float | None = None) -> Any:
        """pop, written and not waited for: .result() reads the lease (ahead.py). None where
        the client holds no connection of its own (use pop)."""
        return self._sent(self.core.pop(worker, lease_seconds))

    def send_ack_and_pop(self, lease: Lease, result: Any = None, lease_seconds: float | None = None) -> Any:
        """ack_and_pop, written and not waited for (see send_pop). A result that is not JSON
        raises here, nothing sent."""
        return self._sent(self.core.ack_and_pop(lease, result, lease_seconds))

    @property
    def held_due_in(self) -> float | None:
        """After a pop that found nothing: seconds until the earliest tenant held at its cap
        or rate limit is due (an idle worker sleeps no longer), None when none is held."""
        return self.core.held_due_in

    def ack_and_pop_many(
        self,
        acks: Sequence[Ack],
        worker: str,
        n: int,
        lease_seconds: float | None = None,
        coroutines: int | None = None,
    ) -> Exchange:
        """Ack finished tasks (Ack.of(lease, result)) and lease up to n more, fairly, in one call;
        with `coroutines`, up to n sync tasks and that many async ones (Core.ack_and_pop_many)."""
        return self._run(self.core.ack_and_pop_many(acks, worker, n, lease_seconds, coroutines))

    def fail(
        self,
        lease: Lease,
        exc: BaseException | None = None,
        *,
        retry: bool = True,
        reason: str = "error",
        message: str | None = None,
    ) -> FailOutcome | None:
        return self._run(self.core.fail(lease, exc, retry=retry, reason=reason, message=message))

    def release(self, lease: Lease) -> None:
        return self._run(self.core.release(lease))

    def heartbeat(
        self,
        worker: str,
        leases: Iterable[Lease],
        report: WorkerReport | None = None,
        lease_seconds: float | None = None,
    ) -> list[str]:
        """Renew `leases` (and store `report`); returns the ids this worker no longer holds."""
        return self._run(self.core.heartbeat(worker, leases, report, lease_seconds))

    # -- maintenance ------------------------------------------------------
    def reap(self, limit: int | None = None) -> tuple[int, int]:
        return self._run(self.core.reap(limit))

    def promote(self, limit: int | None = None) -> int:
        return self._run(self.core.promote(limit))

    def repair_ready(self, *, dry_run: bool = False, batch: int = REPAIR_BATCH) -> Repair:
        """Re-ready tenants whose lanes hold work but that a ready set misses; counters from the lanes."""
        return self._run(self.core.repair_ready(dry_run, batch))

    def purge(
        self,
        user: str,
        reason: str = "purged",
        *,
        batch: int = BULK_BATCH,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Move a tenant's queued and deferred tasks to the DLQ with `reason` (bounded batches)."""
        return self._run(self.core.purge(user, reason, batch, progress))

    # -- dead letters -----------------------------------------------------
    def dlq_requeue(self, ids: Sequence[str]) -> tuple[int, list[str]]:
        return self._run(self.core.dlq_requeue(ids))

    def dlq_delete(self, ids: Sequence[str], user: str | None = None) -> tuple[int, list[str]]:
        """Delete dead letters whatever their record's state; `user`: the tenant they were listed under."""
        return self._run(self.core.dlq_delete(ids, user))

    def dlq_requeue_matching(self, *, user: Name = None, func: Name = None, batch: int = BULK_BATCH,
                             progress: Progress = None) -> int:  # fmt: skip
        """Requeue every dead letter of a tenant (user=) and/or task path (func=), in batches."""
        return self._run(self.core.dlq_matching("requeue", user, func, batch, progress))

    def dlq_delete_matching(self, *, user: Name = None, func: Name = None, batch: int = BULK_BATCH,
                            progress: Progress = None) -> int:  # fmt: skip
        return self._run(self.core.dlq_matching("delete", user, func, batch, progress))

    # -- configuration ----------------------------------------------------
    def set_worker_config(self, settings: WorkerSettings) -> None:
        return self._run(then(self.core.set_worker_configs([settings], ()), _none))

    def delete_worker_config(self, worker: str) -> None:
        return self._run(then(self.core.set_worker_configs((), [worker]), _none))

    def set_worker_configs(self, configs: Sequence[WorkerSettings], delete: Sequence[str] = ()) -> int:
        """Store `configs` and delete the configurations of `delete` in one round trip."""
        return self._run(self.core.set_worker_configs(configs, delete))

    def set_tenant(self, settings: TenantSettings) -> None:
        return self._run(then(self.core.set_tenants([settings], ()), _none))

    def delete_tenant(self, user: str) -> None:
        return self._run(then(self.core.set_tenants((), [user]), _none))

    def set_tenants(self, tenants: Sequence[TenantSettings], delete: Sequence[str] = ()) -> int:
        """Register or update `tenants` and unregister `delete` in one round trip."""
        return self._run(self.core.set_tenants(tenants, delete))

    def set_schedule(self, name: str, spec: ScheduleSpec | None) -> None:
        """Store a schedule, or delete it (None)."""
        return self._run(self.core.set_schedule(name, spec))

    def fire_schedule(
        self,
        name: str,
        fires: list[tuple[str, int, Task]],
        next_ms: int | None,
        skipped: int = 0,
        key_ttl_ms: int | None = None,
    ) -> tuple[int, int]:
        """Enqueue due fires [(fire key, at ms, Task)] once each and move the schedule on."""
        return self._run(self.core.fire_schedule(name, fires, next_ms, skipped, key_ttl_ms))

    def mark_synced(self) -> None:
        return self._run(self.core.mark_synced())

    # -- reads ------------------------------------------------------------
    def get_task(self, task_id: str) -> Task | None:
        return self._run(self.core.reads.get_task(task_id))

    def tenant_queue(self, user: str, offset: int = 0, limit: int = PAGE) -> Page:
        return self._run(self.core.reads.tenant_queue(user, offset, limit))

    def running(self, offset: int = 0, limit: int = PAGE) -> Page:
        return self._run(self.core.reads.running(offset, limit))

    def delayed(self, offset: int = 0, limit: int = PAGE) -> Page:
        return self._run(self.core.reads.delayed(offset, limit))

    def dead_letters(self, offset: int = 0, limit: int = PAGE, user: str | None = None) -> Page:
        return self._run(self.core.reads.dead_letters(offset, limit, user))

    def tenants_with_backlog(self, offset: int = 0, limit: int = PAGE) -> Page:
        return self._run(self.core.reads.tenants_with_backlog(offset, limit))

    def tenant_keys(self, offset: int = 0, limit: int = PAGE, prefix: str = "", by: str = "key") -> Page:
        return self._run(self.core.reads.tenant_keys(offset, limit, prefix, by))

    def tenant_rows(self, users: list[str]) -> dict[str, dict[str, int]]:
        return self._run(self.core.reads.tenant_rows(users))

    def subkeys(self, user: str, sample: int = 200) -> tuple[int, list[tuple[str, int]]]:
        return self._run(self.core.reads.subkeys(user, sample))

    def recent(self, user: str, limit: int = RECENT) -> list[Task]:
        return self._run(self.core.reads.recent(user, limit))

    def stats(self) -> dict[str, int]:
        return self._run(self.core.reads.stats())

    def tenant_stats(self, user: str) -> dict[str, int]:
        return self._run(self.core.reads.tenant_stats(user))

    def priority_stats(self) -> dict[Priority, dict[str, int]]:
        return self._run(self.core.reads.priority_stats())

    def throughput(self, minutes: int = 60) -> list[tuple[int, dict[str, int]]]:
        return self._run(self.core.reads.throughput(minutes))

    def workers(self, limit: int = REPORTS) -> list[WorkerReport]:
        return self._run(self.core.reads.workers(limit))

    def idle(self, within_ms: int = IDLE_WITHIN_MS) -> bool:
        return self._run(self.core.reads.idle(within_ms))

    def worker_config(self, worker: str) -> WorkerSettings | None:
        return self._run(self.core.reads.worker_config(worker))

    def unregistered(self, limit: int = REPORTS) -> list[tuple[str, int]]:
        return self._run(self.core.reads.unregistered(limit))

    def orphaned(self, limit: int = REPORTS) -> list[tuple[str, int]]:
        return self._run(self.core.reads.orphaned(limit, REPORTS))

    def metrics_snapshot(self, top: int = 50, minutes: int = 5, workers: int = REPORTS) -> MetricsSnapshot:
        """What /metrics shows (queueapp/metrics.py): counters, the `top` tenants by backlog with
        their wait histograms over the last `minutes` (at most 20: the buckets expire), workers."""
        return self._run(metrics_snapshot(self.core.keys, top, minutes, workers))

    def config_snapshot(self) -> ConfigSnapshot:
        return self._run(self.core.reads.config_snapshot())

    def ping(self) -> bool:
        """True when Redis answers (readiness checks)."""
        return self._run(self.core.reads.ping())

    def is_synced(self) -> bool:
        return self._run(self.core.reads.is_synced())

    def schedules(self) -> tuple[str | None, dict[str, tuple[dict[str, str], dict[str, str]]]]:
        return self._run(self.core.reads.schedules())

    def schedules_version(self) -> str | None:
        return self._run(self.core.reads.schedules_version())

    def redis_time_ms(self) -> int:
        return self._run(self.core.reads.redis_time_ms())

    def fairness(
        self, minutes: int = FAIRNESS_MINUTES, top: int = FAIRNESS_TOP, users: list[str] | None = None
    ) -> tuple[int, list[TenantService]]:
        return self._run(self.core.fairness.fairness(minutes, top, users))
