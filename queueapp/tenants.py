"""Tenant operations that touch both the DB and the queue."""

from __future__ import annotations

from django.db import transaction

from . import conf
from .models import Tenant

KEEP, DEAD_LETTER = "keep", "dead_letter"


def queued_count(key: str) -> int:
    stats = conf.get_queue().tenant_stats(key)
    return stats["queued"] + stats["delayed"]


def delete_tenant(tenant: Tenant, queued: str = KEEP) -> None:
    """Delete a tenant. Its queued and deferred tasks either keep being served as an
    unregistered tenant (KEEP) or go to the dead-letter queue, reason tenant_deleted."""
    if queued not in (KEEP, DEAD_LETTER):
        raise ValueError(f"queued must be {KEEP!r} or {DEAD_LETTER!r}, got {queued!r}")
    key = tenant.key
    with transaction.atomic():
        tenant.delete()
        if queued == DEAD_LETTER:
            transaction.on_commit(lambda: conf.get_queue().purge(key, reason="tenant_deleted"))
