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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver

from . import conf
from .engine import FairQueueError
from .engine.reads import ConfigSnapshot
from .engine.settings import ScheduleSpec, TenantSettings, WorkerSettings
from .models import Schedule, Tenant, WorkerConfig, check_overlap
from .scheduling import schedule_spec

log = logging.getLogger("fairqueue.sync")


# -- what Redis should hold, from the DB ------------------------------------------------
def worker_settings(config: WorkerConfig, assigned: list[str], steal: list[str]) -> WorkerSettings:
    return WorkerSettings(
        config.worker_id,
        assigned=tuple(assigned),
        steal=tuple(steal),
        steal_all=config.steal_all,
        enabled=config.enabled,
        concurrency=config.concurrency,
        poll_interval=config.poll_interval,
        lease_seconds=config.lease_seconds or None,
    )


@dataclass
class Expected:
    """What Redis should hold, built from the DB; rows that cannot be synced are in `broken`
    (kind and name -> reason) instead of failing the whole sync."""

    tenants: dict[str, TenantSettings] = field(default_factory=dict)
    workers: dict[str, WorkerSettings] = field(default_factory=dict)
    schedules: dict[str, ScheduleSpec] = field(default_factory=dict)
    broken: dict[tuple[str, str], str] = field(default_factory=dict)

    def snapshot(self) -> ConfigSnapshot:
        """In the form config_snapshot() reads from Redis: equal when in sync."""
        steal_all = sorted(w.worker for w in self.workers.values() if w.enabled and w.steal_all)
        return ConfigSnapshot(dict(self.tenants), dict(self.workers), dict(self.schedules), [], [], steal_all)

    def broken_names(self, kind: str) -> set[str]:
        return {name for k, name in self.broken if k == kind}


# TenantSettings field -> Tenant column: what a row syncs to Redis
TENANT_COLUMNS = {
    "weight": "weight",
    "paused": "paused",
    "max_running": "max_running",
    "rate": "rate_limit",
    "burst": "rate_burst",
}


def tenant_settings(key: str, *values: object) -> TenantSettings:
    """What Redis holds for a tenant: its TENANT_COLUMNS values, in that order."""
    return TenantSettings(key, **dict(zip(TENANT_COLUMNS, values, strict=True)))  # type: ignore[arg-type]


def _build(kind: str, name: str, out: Expected, build: Callable[..., Any], *args: Any) -> None:
    try:
        getattr(out, kind + "s")[name] = build(*args)
    except (FairQueueError, ValueError, TypeError) as exc:  # a row the engine refuses
        out.broken[(kind, name)] = str(exc)
        log.error("%s %r cannot be synced to Redis and is skipped: %s", kind, name, exc)


def expected() -> Expected:
    """What Redis should hold, read with a few flat queries (no model instances): the
    drift check must stay fast with tens of thousands of tenants."""
    names: dict[str, dict[str, list[str]]] = {}
    for relation in ("assigned_users", "steal_targets"):
        through = getattr(WorkerConfig, relation).through
        for worker_id, key in through.objects.values_list("workerconfig__worker_id", "tenant__key"):
            names.setdefault(worker_id, {}).setdefault(relation, []).append(key)
    out = Expected()
    for key, *values in Tenant.objects.values_list("key", *TENANT_COLUMNS.values()):
        _build("tenant", key, out, tenant_settings, key, *values)
    rows = WorkerConfig.objects.values(
        "worker_id", "enabled", "steal_all", "concurrency", "poll_interval", "lease_seconds"
    )
    for row in rows:
        config, mine = WorkerConfig(**row), names.get(row["worker_id"], {})
        assigned, steal = mine.get("assigned_users", []), mine.get("steal_targets", [])
        _build("worker", config.worker_id, out, worker_settings, config, assigned, steal)
    for schedule in Schedule.objects.all():
        _build("schedule", schedule.name, out, schedule_spec, schedule)
    return out


# -- pushing one change -------------------------------------------------------------------
def push_tenant(key: str) -> None:
    tenant = Tenant.objects.filter(key=key).first()
    queue = conf.get_queue()
    set_pins = getattr(queue, "set_pins", None)  # SHARDS > 1
    if tenant is None:
        queue.delete_tenant(key)
        if set_pins:
            set_pins({key: None})
        return
    if set_pins:  # first: the settings then go to the shards the pin makes its homes
        set_pins({key: usable_pin(tenant.shard)})
    queue.set_tenant(tenant_settings(key, *(getattr(tenant, c) for c in TENANT_COLUMNS.values())))


def usable_pin(shard: int | None) -> int | None:
    """A Tenant row's shard as a pin: one out of range (SHARDS lowered, a row saved without
    full_clean) is no pin, logged, and the tenant goes by the hash."""
    shards = conf.shards()
    if shard is None or 0 <= shard < shards:
        return shard
    log.warning("tenant shard %s is not one of the %d shards: the tenant goes by the hash", shard, shards)
    return None


def db_pins() -> dict[str, int]:
    return {
        k: p
        for k, s in Tenant.objects.exclude(shard=None).values_list("key", "shard")
        if (p := usable_pin(s)) is not None
    }


def push_worker(worker_id: str) -> None:
    config = WorkerConfig.objects.filter(worker_id=worker_id).first()
    queue = conf.get_queue()
    if config is None:
        queue.delete_worker_config(worker_id)
        return
    assigned = list(config.assigned_users.values_list("key", flat=True))
    steal = list(config.steal_targets.values_list("key", flat=True))
    queue.set_worker_config(worker_settings(config, assigned, steal))


def push_schedule(name: str) -> None:
    schedule = Schedule.objects.filter(name=name).first()
    conf.get_queue().set_schedule(name, schedule_spec(schedule) if schedule else None)


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
    skipped: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, name) -> why not synced


def full_sync() -> SyncReport:
    """Rebuild Redis's copy from the DB: idempotent, safe while workers run. A row that cannot
    be synced (a key the engine refuses, say) is skipped and reported; the rest is synced."""
    queue = conf.get_queue()
    want, have = expected(), queue.config_snapshot()
    report = SyncReport(skipped=dict(want.broken))
    stale = set(have.tenants) | set(have.unregistered_weights) | set(have.unregistered_paused)
    removed_tenants = sorted(stale - set(want.tenants) - want.broken_names("tenant"))
    set_pins = getattr(queue, "set_pins", None)  # SHARDS > 1: the pins first (they decide each tenant's shards)
    if set_pins:
        set_pins(db_pins(), replace=True)
    report.tenants = queue.set_tenants(list(want.tenants.values()), removed_tenants) - len(removed_tenants)
    report.removed += [f"tenant {key}" for key in removed_tenants]
    removed_workers = sorted(set(have.workers) - set(want.workers) - want.broken_names("worker"))
    report.workers = queue.set_worker_configs(list(want.workers.values()), removed_workers) - len(removed_workers)
    report.removed += [f"worker {worker_id}" for worker_id in removed_workers]
    for name, spec in want.schedules.items():
        if have.schedules.get(name) != spec:
            queue.set_schedule(name, spec)
        report.schedules += 1
    for name in sorted(set(have.schedules) - set(want.schedules) - want.broken_names("schedule")):
        queue.set_schedule(name, None)
        report.removed.append(f"schedule {name}")
    queue.mark_synced()
    return report


def _differences(want: Any, have: Any) -> str:
    a, b = asdict(want), asdict(have)
    return ", ".join(f"{f} is {a[f]!r} in the DB but {b.get(f)!r} in Redis" for f in sorted(a) if a[f] != b.get(f))


def drift() -> list[str]:
    """Differences between the DB and Redis's copy, one line each; empty when in sync."""
    want, have = expected(), conf.get_queue().config_snapshot()
    lines = [f"{kind} {name!r}: cannot be synced: {why}" for (kind, name), why in sorted(want.broken.items())]
    pairs = (
        ("tenant", want.tenants, have.tenants),
        ("worker", want.workers, have.workers),
        ("schedule", want.schedules, have.schedules),
    )
    for kind, db, redis_copy in pairs:
        skip = want.broken_names(kind)
        for key in sorted(set(db) | set(redis_copy)):
            if key in skip:
                continue
            if key not in redis_copy:
                lines.append(f"{kind} {key}: in the DB, missing in Redis")
            elif key not in db:
                lines.append(f"{kind} {key}: in Redis, not in the DB")
            elif redis_copy[key] is None:
                lines.append(f"{kind} {key}: unreadable in Redis")
            elif db[key] != redis_copy[key]:
                lines.append(f"{kind} {key}: {_differences(db[key], redis_copy[key])}")
    stored_pins = getattr(conf.get_queue(), "stored_pins", None)
    if stored_pins:
        want_pins, have_pins = db_pins(), stored_pins()
        for key in sorted(set(want_pins) | set(have_pins)):
            if want_pins.get(key) != have_pins.get(key):
                lines.append(
                    f"tenant {key}: pinned to shard {want_pins.get(key)} in the DB, {have_pins.get(key)} in Redis"
                )
    want_steal_all = want.snapshot().steal_all
    if want_steal_all != have.steal_all and not want.broken_names("worker"):
        lines.append(f"steal-all workers: {want_steal_all} in the DB, {have.steal_all} in Redis")
    for key in have.unregistered_weights:
        lines.append(f"tenant {key}: a weight in Redis but not registered")
    for key in have.unregistered_paused:
        lines.append(f"tenant {key}: paused in Redis but not registered")
    return lines
