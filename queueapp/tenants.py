"""Tenant operations that touch both the DB and the queue."""

from __future__ import annotations

from django.db import transaction

from . import conf
from .models import Tenant

KEEP, DEAD_LETTER = "keep", "dead_letter"


def queued_count(key: str) -> int:
    stats = conf.get_queue().tenant_stats(key)
    return stats["queued"] + stats["delayed"] + stats["waiting"]


def delete_tenant(tenant: Tenant, queued: str = KEEP) -> None:
    """Delete a tenant. Its queued and deferred tasks either keep being served as an
    unregistered tenant (KEEP) or go to the dead-letter queue, reason tenant_deleted (and
    its XCom values are deleted)."""
    if queued not in (KEEP, DEAD_LETTER):
        raise ValueError(f"queued must be {KEEP!r} or {DEAD_LETTER!r}, got {queued!r}")
    key = tenant.key
    with transaction.atomic():
        tenant.delete()
        if queued == DEAD_LETTER:
            transaction.on_commit(lambda: _purge(key))


def _purge(key: str) -> None:
    """The tenant's queued, deferred and waiting tasks to the DLQ, and its XCom values gone."""
    queue = conf.get_queue()
    queue.purge(key, reason="tenant_deleted")
    queue.xcom_clear(key)
