"""EngineConfig: every knob of the engine, with defaults a production queue can start on."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from .backoff import RetryPolicy
from .keys import Keys

FAIRNESS_MODES = ("count", "time")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    prefix: str = "{fq}"  # one hash tag: every key of this queue shares a Cluster slot
    lease_seconds: float = 30.0  # a running task's lease; renewed by the worker heartbeat
    aging_seconds: float = 60.0  # one priority level is worth this much waiting time
    result_ttl: int = 86_400  # seconds a finished task (and its result) is kept
    max_payload_bytes: int = 65_536  # args+kwargs JSON size limit, checked at push and pop
    max_retries: int = 3  # default exception retries per task
    max_deliveries: int = 3  # leases (lost workers) before lease_expired -> DLQ
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    batch_chunk: int = 500  # tasks per push script call in push_many
    reap_limit: int = 200  # expired leases handled per reap call
    promote_limit: int = 500  # due delayed tasks moved per promote call
    require_registered_tenants: bool = False  # refuse tasks for tenants not registered (Tenant rows)
    redis_functions: bool = True  # FCALL one Functions library (Redis 7+); False: EVALSHA per script
    xcom_ttl: int = 86_400  # seconds an XCom value is kept after it was pushed
    xcom_max_bytes: int = 65_536  # size limit of one XCom value's JSON
    fairness: str = "count"  # "count": a pop charges 1 / weight; "time": the task's ms / weight (docs/fairness.md)

    def __post_init__(self) -> None:
        Keys(self.prefix)  # validates the hash tag
        if self.lease_seconds <= 0 or self.aging_seconds < 0:
            raise ValueError("lease_seconds must be > 0 and aging_seconds >= 0")
        if not 1 <= self.max_payload_bytes <= 16 * 1024 * 1024:
            raise ValueError("max_payload_bytes must be between 1 byte and 16 MiB")
        if self.xcom_ttl < 1 or not 1 <= self.xcom_max_bytes <= 16 * 1024 * 1024:
            raise ValueError("xcom_ttl must be >= 1 s and xcom_max_bytes between 1 byte and 16 MiB")
        if self.fairness not in FAIRNESS_MODES:
            raise ValueError(f"fairness must be one of {', '.join(FAIRNESS_MODES)}, got {self.fairness!r}")
        for name in ("batch_chunk", "reap_limit", "promote_limit"):
            if not 1 <= getattr(self, name) <= 10_000:
                raise ValueError(f"{name} must be between 1 and 10000")

    @property
    def keys(self) -> Keys:
        return Keys(self.prefix)

    @property
    def lease_ms(self) -> int:
        return int(self.lease_seconds * 1000)

    @property
    def aging_ms(self) -> int:
        return int(self.aging_seconds * 1000)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> EngineConfig:
        """Build from a settings dict with UPPER_CASE or lower_case keys; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        kwargs = {k.lower(): v for k, v in values.items() if k.lower() in names}
        retry = kwargs.pop("retry", None)
        if isinstance(retry, dict):
            kwargs["retry"] = RetryPolicy(**{k.lower(): v for k, v in retry.items()})
        elif retry is not None:
            kwargs["retry"] = retry
        return cls(**kwargs)
