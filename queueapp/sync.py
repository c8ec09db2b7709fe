"""DB -> Redis: the Django models are the source of truth; Redis holds the copy
the Lua scripts read.

- Every save or delete is pushed after its transaction commits
  (transaction.on_commit), one script call per tenant or worker changed; a
  rolled-back transaction pushes nothing.
- full_sync() rebuilds the whole copy (syncqueue; runworker when Redis has
  none); drift() compares DB and Redis (syncqueue --check, the Workers page).
  Bulk updates (QuerySet.update) skip signals: run syncqueue after them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver

from . import conf
from .models import Schedule, Tenant, WorkerConfig, check_overlap
from .scheduling import schedule_config

log = logging.getLogger("fairqueue.sync")


# -- what Redis should hold, from the DB ------------------------------------------------
def worker_state(config: WorkerConfig, assigned: list[str], steal: list[str]) -> dict:
    """A worker configuration in the canonical form ReadPlans.config_snapshot reports."""
    state = {
        "enabled": "1" if config.enabled else "0",
        "steal_all": "1" if config.steal_all else "0",
        "assigned": sorted(assigned),
        "steal": sorted(steal),
        "concurrency": str(config.concurrency),
        "poll_interval": repr(float(config.poll_interval)),
    }
    if config.lease_seconds:
        state["lease_seconds"] = repr(float(config.lease_seconds))
    return state


EXTRA = ("concurrency", "poll_interval", "lease_seconds")  # stored as they are, read by the worker


def expected_snapshot() -> dict:
    """What Redis should hold, read with a few flat queries (no model instances): the
    drift check must stay fast with tens of thousands of tenants."""
    names: dict[str, dict[str, list[str]]] = {}
    for relation in ("assigned_users", "steal_targets"):
        through = getattr(WorkerConfig, relation).through
        for worker_id, key in through.objects.values_list("workerconfig__worker_id", "tenant__key"):
            names.setdefault(worker_id, {}).setdefault(relation, []).append(key)
    configs = [
        WorkerConfig(**row)
        for row in WorkerConfig.objects.values(
            "worker_id", "enabled", "steal_all", "concurrency", "poll_interval", "lease_seconds"
        )
    ]
    return {
        "tenants": {
            key: {"weight": float(weight), "paused": paused}
            for key, weight, paused in Tenant.objects.values_list("key", "weight", "paused")
        },
        "workers": {
            c.worker_id: worker_state(
                c,
                names.get(c.worker_id, {}).get("assigned_users", []),
                names.get(c.worker_id, {}).get("steal_targets", []),
            )
            for c in configs
        },
        "steal_all": sorted(c.worker_id for c in configs if c.enabled and c.steal_all),
        "schedules": {s.name: schedule_config(s) for s in Schedule.objects.all()},
        "unregistered_weights": [],
        "unregistered_paused": [],
    }


# -- pushing one change -------------------------------------------------------------------
def push_tenant(key: str) -> None:
    tenant = Tenant.objects.filter(key=key).first()
    queue = conf.get_queue()
    if tenant is None:
        queue.set_tenant(key, delete=True)
    else:
        queue.set_tenant(key, weight=tenant.weight, paused=tenant.paused)


def push_worker(worker_id: str) -> None:
    config = WorkerConfig.objects.filter(worker_id=worker_id).first()
    queue = conf.get_queue()
    if config is None:
        queue.delete_worker_config(worker_id)
        return
    state = worker_state(
        config,
        list(config.assigned_users.values_list("key", flat=True)),
        list(config.steal_targets.values_list("key", flat=True)),
    )
    queue.set_worker_config(
        worker_id,
        assigned=state["assigned"],
        steal=state["steal"] + (["*"] if config.steal_all else []),
        enabled=config.enabled,
        extra={k: state[k] for k in EXTRA if k in state},
    )


def push_schedule(name: str) -> None:
    schedule = Schedule.objects.filter(name=name).first()
    conf.get_queue().set_schedule(name, schedule_config(schedule) if schedule else None)


def after_commit(push, key: str) -> None:
    """Push `key` once the surrounding transaction commits (at once outside one)."""

    def run():
        try:
            push(key)
        except Exception:  # Redis down: the DB change stands; syncqueue / runworker start-up reconcile
            log.exception("could not sync %s %s to Redis; run `manage.py syncqueue`", push.__name__, key)

    transaction.on_commit(run)


def _workers_naming(tenant: Tenant) -> set[str]:
    ids = set(tenant.assigned_workers.values_list("worker_id", flat=True))
    return ids | set(tenant.stealing_workers.values_list("worker_id", flat=True))


@receiver(pre_save, sender=Tenant)
@receiver(pre_save, sender=WorkerConfig)
def _remember_old_name(sender, instance, **kwargs):
    """A rename is handled after the save: the old name leaves Redis."""
    field = "key" if sender is Tenant else "worker_id"
    instance._fq_old_name = (
        sender.objects.filter(pk=instance.pk).values_list(field, flat=True).first() if instance.pk else None
    )


def _renamed_from(instance, name: str) -> str | None:
    old = getattr(instance, "_fq_old_name", None)
    return old if old and old != name else None


@receiver(post_save, sender=Tenant)
def _tenant_saved(sender, instance, **kwargs):
    old = _renamed_from(instance, instance.key)
    if old:  # the old key leaves Redis; the workers naming this tenant get the new key
        after_commit(push_tenant, old)
        for worker_id in _workers_naming(instance):
            after_commit(push_worker, worker_id)
    after_commit(push_tenant, instance.key)


@receiver(pre_delete, sender=Tenant)
def _tenant_deleting(sender, instance, **kwargs):
    # the cascade removes its M2M rows without m2m_changed: resync the workers that named it
    for worker_id in _workers_naming(instance):
        after_commit(push_worker, worker_id)


@receiver(post_delete, sender=Tenant)
def _tenant_deleted(sender, instance, **kwargs):
    after_commit(push_tenant, instance.key)


@receiver(post_save, sender=WorkerConfig)
@receiver(post_delete, sender=WorkerConfig)
def _worker_changed(sender, instance, **kwargs):
    old = _renamed_from(instance, instance.worker_id)
    if old:
        after_commit(push_worker, old)  # gone from the DB under that id: removed from Redis
    after_commit(push_worker, instance.worker_id)


@receiver(post_save, sender=Schedule)
@receiver(post_delete, sender=Schedule)
def _schedule_changed(sender, instance, **kwargs):
    # the scheduler's own bookkeeping (last/next fire) uses QuerySet.update(): no signal, no push
    after_commit(push_schedule, instance.name)


@receiver(m2m_changed, sender=WorkerConfig.assigned_users.through)
@receiver(m2m_changed, sender=WorkerConfig.steal_targets.through)
def _worker_tenants_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if action == "pre_add":
        assigned = sender is WorkerConfig.assigned_users.through
        if not reverse:  # config.assigned_users.add(tenants) / config.steal_targets.add(tenants)
            adding = Tenant.objects.filter(pk__in=pk_set)
            other = instance.steal_targets.all() if assigned else instance.assigned_users.all()
            check_overlap(adding, other)
        else:  # tenant.assigned_workers.add(configs) / tenant.stealing_workers.add(configs)
            other = instance.stealing_workers if assigned else instance.assigned_workers
            if other.filter(pk__in=pk_set).exists():
                check_overlap([instance], [instance])
    if action == "pre_clear" and reverse:  # tenant.assigned_workers.clear(): Django names no configs
        related = (
            instance.assigned_workers if sender is WorkerConfig.assigned_users.through else instance.stealing_workers
        )
        for worker_id in related.values_list("worker_id", flat=True):
            after_commit(push_worker, worker_id)
    if action in ("post_add", "post_remove", "post_clear"):
        configs = [instance] if not reverse else WorkerConfig.objects.filter(pk__in=pk_set or [])
        for config in configs:
            after_commit(push_worker, config.worker_id)


# -- the whole copy -----------------------------------------------------------------------
@dataclass
class SyncReport:
    tenants: int = 0
    workers: int = 0
    schedules: int = 0
    removed: list[str] = field(default_factory=list)


def full_sync() -> SyncReport:
    """Rebuild Redis's copy from the DB: idempotent, safe while workers run."""
    queue = conf.get_queue()
    report = SyncReport()
    current = queue.config_snapshot()
    for tenant in Tenant.objects.all():
        queue.set_tenant(tenant.key, weight=tenant.weight, paused=tenant.paused)
        report.tenants += 1
    for config in WorkerConfig.objects.all():
        push_worker(config.worker_id)
        report.workers += 1
    db_tenants = set(Tenant.objects.values_list("key", flat=True))
    stale = set(current["tenants"]) | set(current["unregistered_weights"]) | set(current["unregistered_paused"])
    for key in sorted(stale - db_tenants):
        queue.set_tenant(key, delete=True)
        report.removed.append(f"tenant {key}")
    db_workers = set(WorkerConfig.objects.values_list("worker_id", flat=True))
    for worker_id in sorted(set(current["workers"]) - db_workers):
        queue.delete_worker_config(worker_id)
        report.removed.append(f"worker {worker_id}")
    for schedule in Schedule.objects.all():
        if current["schedules"].get(schedule.name) != schedule_config(schedule):
            queue.set_schedule(schedule.name, schedule_config(schedule))
        report.schedules += 1
    db_schedules = set(Schedule.objects.values_list("name", flat=True))
    for name in sorted(set(current["schedules"]) - db_schedules):
        queue.set_schedule(name, None)
        report.removed.append(f"schedule {name}")
    queue.mark_synced()
    return report


def drift() -> list[str]:
    """Differences between the DB and Redis's copy, one line each; empty when in sync."""
    want, have = expected_snapshot(), conf.get_queue().config_snapshot()
    lines = []
    for kind in ("tenants", "workers", "schedules"):
        for key in sorted(set(want[kind]) | set(have[kind])):
            if key not in have[kind]:
                lines.append(f"{kind[:-1]} {key}: in the DB, missing in Redis")
            elif key not in want[kind]:
                lines.append(f"{kind[:-1]} {key}: in Redis, not in the DB")
            elif want[kind][key] != have[kind][key]:
                diff = {
                    f: (want[kind][key].get(f), have[kind][key].get(f))
                    for f in set(want[kind][key]) | set(have[kind][key])
                    if want[kind][key].get(f) != have[kind][key].get(f)
                }
                lines.append(
                    f"{kind[:-1]} {key}: "
                    + ", ".join(f"{f} is {db!r} in the DB but {rd!r} in Redis" for f, (db, rd) in sorted(diff.items()))
                )
    if want["steal_all"] != have["steal_all"]:
        lines.append(f"steal-all workers: {want['steal_all']} in the DB, {have['steal_all']} in Redis")
    for key in have["unregistered_weights"]:
        lines.append(f"tenant {key}: a weight in Redis but not registered")
    for key in have["unregistered_paused"]:
        lines.append(f"tenant {key}: paused in Redis but not registered")
    return lines
