"""The configuration and schedule writes of the core (sans-IO, like core.py, which
inherits them): worker configurations, tenants, schedules and their fires, the
synced mark. Each is one script call per item, pipelined."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .call import Call, Plan, command, once
from .config import EngineConfig
from .errors import InvalidTask
from .keys import Keys
from .settings import ScheduleSpec, TenantSettings, WorkerSettings
from .task import Task, check_name

FIRE_KEY_TTL_MS = 3_600_000  # default life of a schedule's per-fire idempotency key


class ConfigWrites:
    config: EngineConfig
    keys: Keys
    _script: Callable[..., Call[Any]]
    _push_doc: Callable[[Task], dict[str, Any]]

    def _worker_call(self, worker: str, settings: WorkerSettings | None) -> Call[None]:
        params = (
            {"worker": check_name("worker id", worker), "delete": True} if settings is None else settings.to_params()
        )
        return self._script("set_worker_config", params, lambda r: None)

    def set_worker_configs(self, configs: Sequence[WorkerSettings], delete: Sequence[str]) -> Plan[int]:
        """Store `configs` and delete the configurations of `delete`, in one pipeline; returns the count."""
        # built inside the plan, so a bad name raises where the plan runs (the await, for the async client)
        return (
            yield from _pipelined(
                [self._worker_call(c.worker, c) for c in configs] + [self._worker_call(w, None) for w in delete]
            )
        )

    def _tenant_call(self, user: str, settings: TenantSettings | None) -> Call[None]:
        if settings is None:
            params: dict[str, Any] = {"user": check_name("user", user), "delete": True}
        else:
            params = {"user": settings.user, "weight": settings.weight, "paused": settings.paused}
            params.update(settings.limit_params())
        return self._script("set_tenant", params, lambda r: None)

    def set_tenants(self, tenants: Sequence[TenantSettings], delete: Sequence[str]) -> Plan[int]:
        """Register (or update) `tenants` and unregister `delete`, in one pipeline; returns the count."""
        return (
            yield from _pipelined(
                [self._tenant_call(t.user, t) for t in tenants] + [self._tenant_call(u, None) for u in delete]
            )
        )

    def set_schedule(self, name: str, spec: ScheduleSpec | None) -> Plan[None]:
        """Store a schedule, or delete it when `spec` is None."""
        check_name("schedule name", name)
        params: dict[str, Any] = {"name": name, "delete": True}
        if spec is not None:
            params = {"name": name, "config": spec.to_fields()}
        return once(self._script("set_schedule", params, lambda r: None))

    def fire_schedule(
        self, name: str, fires: list[tuple[str, int, Task]], next_ms: int | None, skipped: int, key_ttl_ms: int | None
    ) -> Plan[tuple[int, int]]:
        """Enqueue due fires (each once per fire key) and move the schedule on; (fired, duplicates).
        Fires for unregistered tenants are refused when REQUIRE_REGISTERED_TENANTS is on."""
        cfg = self.config
        docs = [{"key": key, "at_ms": at_ms, "task": self._push_doc(task)} for key, at_ms, task in fires]
        params: dict[str, Any] = {
            "name": name,
            "fires": docs or {},
            "skipped": skipped,
            "key_ttl_ms": key_ttl_ms or FIRE_KEY_TTL_MS,
            "aging_ms": cfg.aging_ms,
            "require_registered": cfg.require_registered_tenants,
        }
        if next_ms is not None:
            params["next_ms"] = next_ms

        def parse(reply: list[str]) -> tuple[int, int]:
            if int(reply[2]):
                raise InvalidTask(
                    f"schedule {name}: tenant not registered (REQUIRE_REGISTERED_TENANTS is on), "
                    f"{reply[2]} fire(s) refused"
                )
            return int(reply[0]), int(reply[1])

        return once(self._script("fire_schedule", params, parse))

    def mark_synced(self) -> Plan[None]:
        yield command("SET", self.keys.synced(), "1")


def _pipelined(calls: list[Call[None]]) -> Plan[int]:
    """`calls` as one pipeline (none: no round trip); the number of calls."""
    if calls:
        yield calls
    return len(calls)
