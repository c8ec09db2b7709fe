"""Shards: N complete fair queues, one hash tag each, behind the one client surface.

One Redis primary runs Lua on one core; past it, tenants spread over hash tags
(`{fq:0}`, `{fq:1}`, ...) that Redis Cluster places on different primaries. Each
shard is a whole FairQueue (lanes, ready sets, leases, DLQ, stats), so every
script still touches one slot and fairness inside a shard is exact. This module
only routes: a tenant to its shard by a stable hash (or an operator's pin), a
task id to its shard by the `@<shard>` suffix every pushed id gets, a worker's
pops over the shards in turn. Reads over all shards are merged in shard_reads.py.
"""

from __future__ import annotations

import dataclasses
import re
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .client import FairQueue
from .config import EngineConfig
from .errors import ConfigError, InvalidTask, TaskNotFound
from .keys import hash_tag_of
from .lease import Ack, PushResult, Repair
from .operations import BULK_BATCH, REPAIR_BATCH, Name, Progress
from .settings import ScheduleSpec, TenantSettings, WorkerSettings
from .shard_consume import WEIGH_SECONDS, ShardConsumer
from .shard_reads import OUTAGE, ShardReads
from .task import Task, new_task_id
from .workflows import WaitingRepair

SHARD_MARK = "@"  # an id FairQueue made ends with "@<shard>" once pushed (task ids allow '@')
_MADE_ID = re.compile(r"[0-9a-f]{28}")  # what new_task_id makes: ms (12 hex) + monotonic random (16)
MAX_SHARDS = 1024
PIN_REFRESH = 5.0  # seconds a process routes by the pins it read before reading them again


def shard_prefix(prefix: str, shard: int) -> str:
    """'{fq}' -> '{fq:2}', 'app:{fq}' -> 'app:{fq:2}': the shard's own hash tag."""
    tag = hash_tag_of(prefix)
    return prefix.replace("{" + tag + "}", "{" + f"{tag}:{shard}" + "}")


def shard_configs(config: EngineConfig, shards: int) -> list[EngineConfig]:
    """One config per shard: SHARDS=1 keeps the prefix (and every key name) as it was."""
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= MAX_SHARDS:
        raise ConfigError(f"FAIRQUEUE['SHARDS'] must be an integer 1..{MAX_SHARDS}, got {shards!r}")
    if shards == 1:
        return [config]
    return [dataclasses.replace(config, prefix=shard_prefix(config.prefix, i)) for i in range(shards)]


def shard_of_user(user: str, shards: int) -> int:
    """Stable across processes and Python versions (CRC-32, not hash())."""
    return zlib.crc32(user.encode()) % shards


def shard_of_id(task_id: str, shards: int) -> int | None:
    """The shard an id names by its suffix, None for an id without one."""
    _, mark, tail = task_id.rpartition(SHARD_MARK)
    if mark and tail.isdigit() and int(tail) < shards:
        return int(tail)
    return None


def marked(task_id: str, shard: int) -> str:
    """An id FairQueue made (task.new_task_id) gets its shard; an id the caller chose is kept as
    it is (they look it up by it, and depend on it), found by asking every shard."""
    return f"{task_id}{SHARD_MARK}{shard}" if _MADE_ID.fullmatch(task_id) else task_id


class ShardedQueue(ShardConsumer, ShardReads):
    """The FairQueue surface over `shards` (FairQueue objects, shard i = prefix {tag:i}).
    Leases it hands out come back to it (lease.queue) and carry their shard (lease.shard)."""

    def __init__(self, shards: Sequence[FairQueue], pins: Mapping[str, int] | None = None) -> None:
        if len(shards) < 2:
            raise ConfigError("a ShardedQueue needs at least two shards (SHARDS=1 is a plain FairQueue)")
        self.shards = list(shards)
        self.n = len(self.shards)
        self._given_pins = dict(pins or {})  # tenant -> shard from the caller, over the stored ones
        self.pins = dict(self._given_pins)  # in effect: stored (cfg:pins of shard 0) and given
        self._pins_read = -PIN_REFRESH  # monotonic time of the last read of the stored pins
        self.config = self.shards[0].config  # shard 0 holds the scheduler's leader lock
        self.redis = self.shards[0].redis
        self.core = self.shards[0].core
        self._turn, self._streak = 0, 0
        self._held: list[float | None] = [None] * self.n
        self._down: list[float] = [0.0] * self.n  # monotonic time until which a shard is left out
        self._owed: list[list[Ack]] = [[] for _ in range(self.n)]  # acks its outage kept back
        self.serving: list[int] = list(range(self.n))  # the shards this worker pops from (only())
        self._tenants_with_work: list[int] = [0] * self.n  # per shard, as last weighed (turn lengths)
        self._weighed = -WEIGH_SECONDS
        self._schedule_shard: dict[str, int] = {}

    @classmethod
    def over(cls, client: Any, config: EngineConfig, shards: int, **kwargs: Any) -> ShardedQueue | FairQueue:
        """SHARDS queues on one client (a RedisCluster, or one Redis for all shards)."""
        configs = shard_configs(config, shards)
        if len(configs) == 1:
            return FairQueue(client, config)
        first = FairQueue(client, configs[0])
        return cls([first, *(first.sibling(c) for c in configs[1:])], **kwargs)

    def only(self, shards: Sequence[int]) -> ShardedQueue:
        """The same queue, its pops, heartbeats and maintenance on `shards` only (runworker
        --shards); what a caller pushes or reads still goes anywhere."""
        chosen = sorted(set(shards))
        if not chosen or any(not 0 <= i < self.n for i in chosen):
            raise ValueError(f"shards must be some of 0..{self.n - 1}, got {list(shards)}")
        copy = ShardedQueue(self.shards, self._given_pins)
        copy.serving, copy._turn = chosen, chosen[0]
        return copy

    def dedicated(self) -> ShardedQueue:
        first = self.shards[0].dedicated()
        copy = ShardedQueue([first, *(first.sibling(s.config) for s in self.shards[1:])], self._given_pins)
        copy._turn, copy.pins, copy._pins_read = self._turn, dict(self.pins), self._pins_read
        copy.serving = list(self.serving)
        return copy

    def close(self) -> None:
        self.shards[0].close()

    # -- routing -------------------------------------------------------------
    def shard_of(self, user: str) -> int:
        """Where the tenant's new tasks go: its pin (a shard in range), else the hash."""
        if time.monotonic() - self._pins_read >= PIN_REFRESH:
            self._read_pins()
        pin = self.pins.get(user)
        return pin if pin is not None and 0 <= pin < self.n else shard_of_user(user, self.n)

    def homes(self, user: str) -> list[int]:
        """Every shard that may hold the tenant's tasks: where they go now, and the hash's shard
        when a pin moved them (tasks queued before the move drain there)."""
        now, hashed = self.shard_of(user), shard_of_user(user, self.n)
        return [now] if now == hashed else [now, hashed]

    def for_user(self, user: str) -> FairQueue:
        return self.shards[self.shard_of(user)]

    def _read_pins(self) -> None:
        """The stored pins, every PIN_REFRESH s at most (one HGETALL); kept as they were when
        shard 0 cannot be read (routing goes on with what it knew)."""
        self._pins_read = time.monotonic()
        try:
            stored = self.shards[0].redis.hgetall(self.shards[0].config.keys.pins())
        except OUTAGE:
            return
        pins = {str(u): int(v) for u, v in stored.items() if str(v).isdigit()}  # a hand edit's junk: no pin
        self.pins = {**pins, **self._given_pins}

    def set_pins(self, pins: Mapping[str, int | None], replace: bool = False) -> None:
        """Pin tenants to shards (None: back to the hash); `replace`: these are all the pins.
        Every process routes by them within PIN_REFRESH seconds."""
        bad = {u: p for u, p in pins.items() if p is not None and not (isinstance(p, int) and 0 <= p < self.n)}
        if bad:
            raise ConfigError(f"a shard pin must be 0..{self.n - 1} (SHARDS={self.n}): {bad}")
        client, key = self.shards[0].redis, self.shards[0].config.keys.pins()
        pipe = client.pipeline(transaction=False)
        if replace:
            pipe.delete(key)
        gone = [u for u, p in pins.items() if p is None]
        if gone:
            pipe.hdel(key, *gone)
        for user, pin in pins.items():
            if pin is not None:
                pipe.hset(key, user, pin)
        pipe.execute()
        self._read_pins()

    def stored_pins(self) -> dict[str, int]:
        self._read_pins()
        return {u: p for u, p in self.pins.items() if u not in self._given_pins}

    def _id_shards(self, task_id: str) -> list[int]:
        """The shard an id names; every shard for an id without a mark (pushed by SHARDS=1, say)."""
        i = shard_of_id(task_id, self.n)
        return list(range(self.n)) if i is None else [i]

    def _by_id[T](self, task_id: str, read: Callable[[FairQueue], T | None]) -> T | None:
        for i in self._id_shards(task_id):
            found = read(self.shards[i])
            if found is not None:
                return found
        return None

    def _group_ids(self, ids: Iterable[str]) -> dict[int, list[str]]:
        groups: dict[int, list[str]] = {}
        for task_id in ids:
            for i in self._id_shards(task_id):
                groups.setdefault(i, []).append(task_id)
        return groups

    def _mark(self, tasks: Sequence[Task]) -> dict[int, list[tuple[int, Task]]]:
        """Tasks by shard, ids marked with it; a dependency on a task of the same batch follows
        its new id (a pipeline's edges are ids made before its tenant's shard was known)."""
        renamed: dict[str, str] = {}
        groups: dict[int, list[tuple[int, Task]]] = {}
        for pos, task in enumerate(tasks):
            i = self.shard_of(task.user)
            new = marked(task.id, i)
            renamed[task.id] = new
            task.id = new
            groups.setdefault(i, []).append((pos, task))
        for task in tasks:
            if task.depends_on:
                task.depends_on = tuple(renamed.get(d, d) for d in task.depends_on)
                self._same_shard(task)
        return groups

    def _same_shard(self, task: Task) -> None:
        """A dependent is released in the Lua call of its dependency's ack: both in one slot."""
        home = self.shard_of(task.user)
        for dep in task.depends_on:
            there = shard_of_id(dep, self.n)
            if there is not None and there != home:
                raise InvalidTask(
                    f"task {task.id!r} (tenant {task.user!r}, shard {home}) depends on {dep!r} of shard {there}: "
                    "with SHARDS > 1 a task can depend only on tasks of its own shard (of its own tenant, "
                    "or a tenant pinned to the same shard); nothing of this push was enqueued"
                )

    # -- producer --------------------------------------------------------------
    def push(self, task: Task) -> PushResult:
        ((i, _),) = self._mark([task]).items()
        return self.shards[i].push(task)

    def push_many(self, tasks: Iterable[Task]) -> list[PushResult]:
        """One round trip per shard touched; results in the order of `tasks`."""
        tasks = list(tasks)
        out: list[PushResult | None] = [None] * len(tasks)
        for i, group in self._mark(tasks).items():
            for (pos, _), result in zip(group, self.shards[i].push_many([t for _, t in group]), strict=True):
                out[pos] = result
        return out  # type: ignore[return-value]

    def push_each(
        self, task: Task, calls: Sequence[tuple[Sequence[Any], dict[str, Any]]], ids: Sequence[str] | None = None
    ) -> list[PushResult]:
        """One tenant's calls: its shard, one round trip (ids marked like push_many's)."""
        shard, ids = self._each_shard(task, len(calls), ids)
        return shard.push_each(task, calls, ids)

    def start_push_each(
        self, task: Task, calls: Sequence[tuple[Sequence[Any], dict[str, Any]]], ids: Sequence[str]
    ) -> Any:
        shard, ids = self._each_shard(task, len(calls), ids)
        return shard.start_push_each(task, calls, ids)

    def _each_shard(self, task: Task, n: int, ids: Sequence[str] | None) -> tuple[FairQueue, list[str]]:
        """Where a batch of one tenant's calls goes, with its ids: the shard that ids from
        new_ids() are marked with (the tenant's when they were made), else the tenant's now."""
        ids = list(ids) if ids is not None else self.new_ids(task.user, n)
        i = shard_of_id(ids[0], self.n) if ids else None
        if i is None:
            i = self.shard_of(task.user)
            ids = [marked(x, i) for x in ids]
        if task.depends_on:
            self._same_shard(task)
        return self.shards[i], ids

    def new_ids(self, user: str, n: int) -> list[str]:
        """Ids for n new tasks of `user`, marked with the shard its push goes to."""
        shard = self.shard_of(user)
        return [marked(new_task_id(), shard) for _ in range(n)]

    def push_pipeline(self, run: str, user: str, name: str, tasks: Sequence[Task]) -> list[PushResult]:
        """A pipeline is one tenant's: one shard, one atomic call as with SHARDS=1."""
        for task in tasks:
            task.user = user
        self._mark(tasks)
        return self.for_user(user).push_pipeline(run, user, name, tasks)

    def cancel(self, task_id: str) -> None:
        shards = self._id_shards(task_id)
        for i in shards:
            try:
                return self.shards[i].cancel(task_id)
            except TaskNotFound:
                if i == shards[-1]:
                    raise

    def cancel_pipeline(self, run: str) -> int:
        return sum(s.cancel_pipeline(run) for s in self.shards)

    def xcom_push(self, user: str, ns: str, key: str, value: Any, ttl: int | None = None) -> None:
        return self.for_user(user).xcom_push(user, ns, key, value, ttl)

    def xcom_pull(self, user: str, ns: str, key: str) -> tuple[bool, Any]:
        return self.for_user(user).xcom_pull(user, ns, key)

    def xcom_values(self, user: str, ns: str) -> dict[str, Any]:
        return self.for_user(user).xcom_values(user, ns)

    def xcom_clear(self, user: str) -> int:
        return sum(self.shards[i].xcom_clear(user) for i in self.homes(user))

    # -- maintenance: every shard ------------------------------------------------
    def reap(self, limit: int | None = None) -> tuple[int, int]:
        done = [r for _, r in self._each(lambda s, _: s.reap(limit))]
        return sum(r for r, _ in done), sum(d for _, d in done)

    def promote(self, limit: int | None = None) -> int:
        return max(n for _, n in self._each(lambda s, _: s.promote(limit)))  # the caller loops while one is full

    def repair_ready(self, *, dry_run: bool = False, batch: int = REPAIR_BATCH) -> Repair:
        found = [s.repair_ready(dry_run=dry_run, batch=batch) for s in self.shards]
        return _summed(Repair, found)

    def repair_waiting(self, dry_run: bool = False, batch: int = REPAIR_BATCH) -> WaitingRepair:
        found = [s.repair_waiting(dry_run, batch) for s in self.shards]
        return _summed(WaitingRepair, found)

    def purge(self, user: str, reason: str = "purged", *, batch: int = BULK_BATCH, progress: Progress = None) -> int:
        total = 0
        for i in self.homes(user):
            total += self.shards[i].purge(user, reason, batch=batch, progress=_offset(progress, total))
        return total

    def dlq_requeue(self, ids: Sequence[str]) -> tuple[int, list[str]]:
        return self._each_ids(ids, lambda s, part: s.dlq_requeue(part))

    def dlq_delete(self, ids: Sequence[str], user: str | None = None) -> tuple[int, list[str]]:
        return self._each_ids(ids, lambda s, part: s.dlq_delete(part, user))

    def _each_ids(
        self, ids: Sequence[str], op: Callable[[FairQueue, list[str]], tuple[int, list[str]]]
    ) -> tuple[int, list[str]]:
        """An unmarked id is tried on every shard: skipped where it is not, counted where it is."""
        total, skipped = 0, list[str]()
        for i, part in self._group_ids(ids).items():
            n, missed = op(self.shards[i], part)
            total += n
            skipped.extend(missed)
        done_somewhere = {t for t in ids if skipped.count(t) < len(self._id_shards(t))}
        return total, list(dict.fromkeys(t for t in skipped if t not in done_somewhere))

    def dlq_requeue_matching(self, *, user: Name = None, func: Name = None, batch: int = BULK_BATCH,
                             progress: Progress = None) -> int:  # fmt: skip
        return self._matching("dlq_requeue_matching", user, func, batch, progress)

    def dlq_delete_matching(self, *, user: Name = None, func: Name = None, batch: int = BULK_BATCH,
                            progress: Progress = None) -> int:  # fmt: skip
        return self._matching("dlq_delete_matching", user, func, batch, progress)

    def _matching(self, op: str, user: Name, func: Name, batch: int, progress: Progress) -> int:
        shards = [self.shards[i] for i in self.homes(user)] if user else self.shards
        total = 0
        for s in shards:
            base = total
            total += getattr(s, op)(user=user, func=func, batch=batch, progress=_offset(progress, base))
        return total

    # -- configuration ---------------------------------------------------------
    def set_worker_config(self, settings: WorkerSettings) -> None:
        self.set_worker_configs([settings])

    def delete_worker_config(self, worker: str) -> None:
        self.set_worker_configs((), [worker])

    def set_worker_configs(self, configs: Sequence[WorkerSettings], delete: Sequence[str] = ()) -> int:
        """Every shard: a worker's assigned tenants may live on any of them."""
        return max(s.set_worker_configs(configs, delete) for s in self.shards)

    def set_tenant(self, settings: TenantSettings) -> None:
        self.set_tenants([settings])

    def delete_tenant(self, user: str) -> None:
        self.set_tenants((), [user])

    def set_tenants(self, tenants: Sequence[TenantSettings], delete: Sequence[str] = ()) -> int:
        """A tenant's settings live in its shard only (its pops read them there)."""
        sets: dict[int, list[TenantSettings]] = {}
        gone: dict[int, list[str]] = {}
        for t in tenants:  # both shards of a tenant that is moving: its old tasks still drain there
            for i in self.homes(t.user):
                sets.setdefault(i, []).append(t)
        for user in delete:
            for i in self.homes(user):
                gone.setdefault(i, []).append(user)
        done = [self.shards[i].set_tenants(sets.get(i, []), gone.get(i, [])) for i in sorted({*sets, *gone})]
        return len(tenants) + len(delete) if done else 0

    def set_schedule(self, name: str, spec: ScheduleSpec | None) -> None:
        """In the shard of the schedule's tenant (its fires push there, atomically with the fire
        key), and gone from every other (the tenant may have changed)."""
        home = self.shard_of(spec.user) if spec is not None else None
        for i, s in enumerate(self.shards):
            s.set_schedule(name, spec if i == home else None)
        if home is not None:
            self._schedule_shard[name] = home

    def fire_schedule(self, name: str, fires: list[tuple[str, int, Task]], next_ms: int | None, skipped: int = 0,
                      key_ttl_ms: int | None = None) -> tuple[int, int]:  # fmt: skip
        home = self._schedule_shard.get(name)
        if home is None:
            self.schedules()
            home = self._schedule_shard.get(name)
        if home is None:
            home = self.shard_of(fires[0][2].user) if fires else 0
        self._mark([task for _, _, task in fires])
        return self.shards[home].fire_schedule(name, fires, next_ms, skipped, key_ttl_ms)

    def mark_synced(self) -> None:
        for s in self.shards:
            s.mark_synced()


def _summed[T](kind: type[T], values: list[Any]) -> T:
    return kind(*(sum(getattr(v, f.name) for v in values) for f in dataclasses.fields(kind)))  # type: ignore[arg-type]


class threaded:
    """The async surface of a sync queue (get_async_queue with SHARDS > 1): each call runs in
    a worker thread (asgiref's sync_to_async), so an event loop never blocks on Redis."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    async def aclose(self) -> None:
        self.queue.redis.close()

    def __getattr__(self, name: str) -> Any:
        from asgiref.sync import sync_to_async

        attr = getattr(self.queue, name)
        return sync_to_async(attr, thread_sensitive=False) if callable(attr) else attr


def _offset(progress: Progress, base: int) -> Progress:
    """A shard's progress callback, counting on from what the shards before it did."""
    if progress is None:
        return None
    report = progress
    return lambda n: report(base + n)
