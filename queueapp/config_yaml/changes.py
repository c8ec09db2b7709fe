"""What an import changes in the database (plan) and writing it in one transaction (apply)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..models import Tenant, WorkerConfig
from .reading import STEAL_ALL, ConfigFile, ConfigFileError, WorkerSpec

# -- what an import changes -----------------------------------------------------------------
FIELD_ORDER = ("concurrency", "poll_interval", "steal_all", "enabled", "lease_seconds")


@dataclass
class WorkerChange:
    spec: WorkerSpec
    pk: int | None  # None: created
    fields: dict[str, Any]  # the fields that change (all the file sets, for a new row)
    assigned: set[str] | None  # the new set, when it changes
    steal: set[str] | None
    text: str


@dataclass
class Plan:
    config: ConfigFile
    new_tenants: list[str]
    workers: list[WorkerChange]
    untouched: list[str]  # worker configurations in the database that the file does not list

    @property
    def changed(self) -> bool:
        return bool(self.new_tenants or self.workers)

    def lines(self) -> list[str]:
        return [f"create tenant {key}" for key in self.new_tenants] + [w.text for w in self.workers]


def _list_text(keys) -> str:
    return "[" + ", ".join(sorted(keys)) + "]"


def _relation_change(name: str, old: set[str], new: set[str]) -> str:
    parts = []
    if new - old:
        parts.append(f"+{_list_text(new - old)}")
    if old - new:
        parts.append(f"-{_list_text(old - new)}")
    return f"{name} {' '.join(parts)}"


def _tenant_pks(keys: list[str], chunk: int = 500) -> dict[str, int]:
    """key -> pk of the tenants that exist, a few hundred keys per query (SQLite's parameter limit)."""
    out: dict[str, int] = {}
    for start in range(0, len(keys), chunk):
        out.update(Tenant.objects.filter(key__in=keys[start : start + chunk]).values_list("key", "pk"))
    return out


def plan(config: ConfigFile) -> Plan:
    """Compare the file with the database (reads only); ConfigFileError when the result would be
    invalid (a tenant both assigned and a steal target once the file's lists meet the rows')."""
    existing_tenants = set(_tenant_pks(config.users()))
    new_tenants = [key for key in config.users() if key not in existing_tenants]
    rows = {c.worker_id: c for c in WorkerConfig.objects.filter(worker_id__in=[w.worker_id for w in config.workers])}
    current: dict[str, dict[str, set[str]]] = {}
    for relation in ("assigned_users", "steal_targets"):
        through = getattr(WorkerConfig, relation).through
        pairs = through.objects.filter(workerconfig__worker_id__in=list(rows))
        for worker_id, key in pairs.values_list("workerconfig__worker_id", "tenant__key"):
            current.setdefault(worker_id, {}).setdefault(relation, set()).add(key)
    changes = []
    for spec in config.workers:
        row = rows.get(spec.worker_id)
        have = current.get(spec.worker_id, {})
        old_assigned, old_steal = have.get("assigned_users", set()), have.get("steal_targets", set())
        new_assigned = set(spec.assigned) if spec.assigned is not None else old_assigned
        new_steal = set(spec.steal) if spec.steal is not None else old_steal
        both = new_assigned & new_steal
        if both:
            kept = "steal_targets" if spec.steal is None else "assigned_users"
            raise ConfigFileError(
                f"{config.source}, line {spec.line}: worker {spec.worker_id}: {', '.join(sorted(both))} would be "
                f"both assigned and a steal target ({kept} is not in the file and the database's is kept): "
                "list both in the file"
            )
        assigned = new_assigned if new_assigned != old_assigned else None
        steal = new_steal if new_steal != old_steal else None
        if row is None:
            fields = {f: spec.fields[f] for f in FIELD_ORDER if f in spec.fields}
            stolen = sorted(new_steal) + ([STEAL_ALL] if fields.get("steal_all") else [])
            parts = [f"assigned_users={_list_text(new_assigned)}", f"steal_targets=[{', '.join(stolen)}]"]
            parts += [f"{f}={v!r}" for f, v in fields.items() if f != "steal_all"]
            text = f"create worker configuration {spec.worker_id}: {', '.join(parts)}"
            changes.append(WorkerChange(spec, None, fields, new_assigned or None, new_steal or None, text))
            continue
        fields = {f: spec.fields[f] for f in FIELD_ORDER if f in spec.fields and getattr(row, f) != spec.fields[f]}
        parts = [f"{f} {getattr(row, f)!r} -> {v!r}" for f, v in fields.items()]
        if assigned is not None:
            parts.append(_relation_change("assigned_users", old_assigned, assigned))
        if steal is not None:
            parts.append(_relation_change("steal_targets", old_steal, steal))
        if parts:
            text = f"update worker configuration {spec.worker_id}: {', '.join(parts)}"
            changes.append(WorkerChange(spec, row.pk, fields, assigned, steal, text))
    listed = {w.worker_id for w in config.workers}
    untouched = sorted(set(WorkerConfig.objects.values_list("worker_id", flat=True)) - listed)
    return Plan(config, new_tenants, changes, untouched)


def apply(change_plan: Plan) -> None:
    """Write the plan in one transaction. Bulk queries send no per-row signals: run
    sync.full_sync() afterwards (importconfig does) so Redis's copy follows."""
    with transaction.atomic():
        # ignore_conflicts: a tenant created meanwhile (the admin) is kept as it is, like any existing one
        Tenant.objects.bulk_create([Tenant(key=key) for key in change_plan.new_tenants], ignore_conflicts=True)
        tenant_pks = _tenant_pks(change_plan.config.users())
        created = [w for w in change_plan.workers if w.pk is None]
        WorkerConfig.objects.bulk_create([WorkerConfig(worker_id=w.spec.worker_id, **w.fields) for w in created])
        ids = dict(
            WorkerConfig.objects.filter(worker_id__in=[w.spec.worker_id for w in created]).values_list(
                "worker_id", "pk"
            )
        )
        now = timezone.now()
        for change in change_plan.workers:
            pk = change.pk if change.pk is not None else ids[change.spec.worker_id]
            if change.pk is not None:
                WorkerConfig.objects.filter(pk=pk).update(updated_at=now, **change.fields)
            for relation, keys in (("assigned_users", change.assigned), ("steal_targets", change.steal)):
                if keys is None:
                    continue
                through = getattr(WorkerConfig, relation).through
                want = {tenant_pks[key] for key in keys}
                through.objects.filter(workerconfig_id=pk).exclude(tenant_id__in=want).delete()
                have = set(through.objects.filter(workerconfig_id=pk).values_list("tenant_id", flat=True))
                through.objects.bulk_create(
                    [through(workerconfig_id=pk, tenant_id=tenant) for tenant in sorted(want - have)]
                )
