"""The dead-letter and bulk writes of the core (sans-IO, like core.py, which inherits
them): requeue and delete dead letters by id or by filter, and purge a tenant's
queued, deferred and waiting tasks, each in bounded batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .call import Call, Plan, command, once
from .config import EngineConfig
from .keys import Keys
from .reads import Reads
from .task import check_name


class BulkWrites:
    config: EngineConfig
    keys: Keys
    reads: Reads
    _script: Callable[..., Call[Any]]

    def dlq_requeue_call(self, ids: Sequence[str]) -> Call[tuple[int, list[str]]]:
        """Parses to (requeued count, ids skipped because not dead)."""
        params: dict[str, Any] = {
            "ids": list(ids) or {},
            "aging_ms": self.config.aging_ms,
            "max_payload": self.config.max_payload_bytes,
        }
        return self._script("dlq_requeue", params, lambda r: (int(r[0]), list(r[1:])))

    def dlq_delete_call(self, ids: Sequence[str], user: str | None = None) -> Call[tuple[int, list[str]]]:
        """`user`: the tenant the ids were listed under, so entries whose record is gone leave
        that tenant's DLQ too."""
        params: dict[str, Any] = {"ids": list(ids) or {}}
        if user:
            params["user"] = user
        return self._script("dlq_delete", params, lambda r: (int(r[0]), list(r[1:])))

    def dlq_requeue(self, ids: Sequence[str]) -> Plan[tuple[int, list[str]]]:
        return once(self.dlq_requeue_call(ids))

    def dlq_delete(self, ids: Sequence[str], user: str | None) -> Plan[tuple[int, list[str]]]:
        return once(self.dlq_delete_call(ids, user))

    # -- bulk actions in bounded batches ------------------------------------
    def purge(self, user: str, reason: str, batch: int, progress: Callable[[int], None] | None) -> Plan[int]:
        """Move a tenant's queued and deferred tasks to the DLQ with `reason`, in bounded batches."""
        check_name("user", user)
        moved = 0
        while n := (yield self._script("purge", {"user": user, "reason": reason, "limit": batch}, int)):
            moved += n
            if progress:
                progress(moved)
        moved += yield from self._purge_listed(self.keys.delayed(), user, reason, batch, progress, moved, False)
        waiting = self.keys.waiting()
        return moved + (yield from self._purge_listed(waiting, user, reason, batch, progress, moved, True))

    def _purge_listed(
        self,
        key: str,
        user: str,
        reason: str,
        batch: int,
        progress: Callable[[int], None] | None,
        before: int,
        cascades: bool,
    ) -> Plan[int]:
        """Purge `user`'s tasks listed in the zset `key` (delayed, waiting): scanned in batches.
        cascades: a purged task cancels its dependents (waiting tasks), which leave the set behind
        the offset, so the scan is repeated until a pass purges nothing."""
        moved = offset = 0
        passed = 0  # moved by the passes before this one
        while True:
            ids = yield command("ZRANGE", key, offset, offset + batch - 1)
            if not ids:
                if moved == passed or not cascades:
                    return moved
                passed, offset = moved, 0
                continue
            users = yield [command("HGET", self.keys.task(i), "user") for i in ids]
            mine = [i for i, u in zip(ids, users, strict=True) if u == user]
            n = 0
            if mine:
                n = yield self._script("purge", {"user": user, "reason": reason, "limit": 0, "ids": mine}, int)
            moved += n
            offset += len(ids) - n
            if progress and n:
                progress(before + moved)

    def dlq_matching(
        self,
        action: str,
        user: str | None,
        func: str | None,
        batch: int,
        progress: Callable[[int], None] | None,
    ) -> Plan[int]:
        """Requeue or delete every dead letter of `user` and/or task path `func`, in bounded batches.
        Returns how many were handled; `progress(done)` is called after each batch."""

        def build(chosen: list[str]) -> Call[tuple[int, list[str]]]:
            return self.dlq_requeue_call(chosen) if action == "requeue" else self.dlq_delete_call(chosen, user)

        done = offset = 0
        while True:
            ids = yield from self.reads.dead_letter_ids(offset, batch, user)
            if not ids:
                return done
            chosen = ids
            if func:
                funcs = yield [command("HGET", self.keys.task(i), "func") for i in ids]
                chosen = [i for i, f in zip(ids, funcs, strict=True) if f == func]
            handled = 0
            if chosen:
                handled, _skipped = yield build(chosen)  # skipped ones stay: the offset moves past them
            done += handled
            offset += len(ids) - handled
            if progress:
                progress(done)
