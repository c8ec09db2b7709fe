"""The reads of a ShardedQueue: one tenant's from its shard, a task's from the shard its
id names, totals summed over the shards, listings merged.

A merged page reads `offset + limit` entries of every shard and merges them in the
listing's own order (lease deadline, due time, death time, backlog), so page k costs
k pages per shard: the dashboard's pages are shallow, and an exact merge needs them.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis import exceptions as rx

from .fairness import TenantService
from .keys import hash_tag_of
from .metrics_reads import MetricsSnapshot
from .operations import FAIRNESS_MINUTES, FAIRNESS_TOP, IDLE_WITHIN_MS, PAGE, RECENT, REPORTS
from .reads import ConfigSnapshot, Page
from .settings import WorkerReport, WorkerSettings
from .task import Priority, Task
from .workflows import PipelineRun

if TYPE_CHECKING:
    from .client import FairQueue

# what a shard's primary being gone (killed, failing over, demoted) looks like to a client
OUTAGE = (rx.ConnectionError, rx.TimeoutError, rx.ClusterError, rx.TryAgainError, rx.ReadOnlyError,
          rx.RedisClusterException)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ShardRow:
    """One shard as the Overview shows it: its counts and the Redis node that holds it."""

    index: int
    prefix: str
    node: str  # host:port of the primary serving the shard's slot ("" on one plain Redis)
    queued: int = 0
    running: int = 0
    delayed: int = 0
    tenants: int = 0  # tenants with queued work
    memory: str = ""  # the node's used_memory_human (shared by the shards on one node)
    ops_per_sec: int = 0  # the node's instantaneous_ops_per_sec
    cpu_seconds: float = 0.0  # the node's used_cpu_user + used_cpu_sys since it started
    error: str = ""  # why the shard could not be read


def _node_info(client: Any, tag: str) -> tuple[str, dict[str, Any]]:
    """(address, INFO) of the node serving `tag`'s slot: a cluster's primary, or the one server."""
    get_node = getattr(client, "get_node_from_key", None)
    if get_node is None:
        return "", client.info()
    node = get_node(tag)
    return node.name, client.info(target_nodes=node)


def _merged_page(pages: list[Page], offset: int, limit: int, key: Callable[[Any], Any]) -> Page:
    items = list(heapq.merge(*(p.items for p in pages), key=key))
    return Page(items[offset : offset + limit], sum(p.total for p in pages), offset, limit)


def _added(rows: Sequence[dict[str, int]]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for row in rows:
        out.update(row)
    return dict(out)


class ShardReads:
    shards: list[FairQueue]  # one per shard (shards.py)
    n: int
    serving: list[int]  # the shards a worker pops from (ShardedQueue.only)
    _schedule_shard: dict[str, int]

    def shard_of(self, user: str) -> int:
        raise NotImplementedError

    def for_user(self, user: str) -> FairQueue:
        raise NotImplementedError

    def homes(self, user: str) -> list[int]:
        raise NotImplementedError

    def _of_user(self, user: str) -> list[FairQueue]:
        return [self.shards[i] for i in self.homes(user)]

    def _by_id[T](self, task_id: str, read: Callable[[FairQueue], T | None]) -> T | None:
        raise NotImplementedError

    def _group_ids(self, ids: Sequence[str]) -> dict[int, list[str]]:
        raise NotImplementedError

    def _each[T](self, op: Callable[[FairQueue, int], T]) -> list[tuple[int, T]]:
        raise NotImplementedError

    def _each_until_one[T](self, op: Callable[[FairQueue], T]) -> T:
        raise NotImplementedError

    def _pages(self, op: str, offset: int, limit: int, *args: Any) -> list[Page]:
        return [getattr(s, op)(0, offset + limit, *args) for s in self.shards]

    # -- one task, many tasks ----------------------------------------------------
    def get_task(self, task_id: str) -> Task | None:
        return self._by_id(task_id, lambda s: s.get_task(task_id))

    def tasks(self, ids: Sequence[str]) -> list[Task]:
        found: dict[str, Task] = {}
        for i, part in self._group_ids(ids).items():
            found.update((t.id, t) for t in self.shards[i].tasks(part))
        return [found[i] for i in ids if i in found]

    def task_states(self, ids: Sequence[str]) -> dict[str, str | None]:
        states: dict[str, str | None] = dict.fromkeys(ids)
        for i, part in self._group_ids(ids).items():
            for task_id, state in self.shards[i].task_states(part).items():
                states[task_id] = states[task_id] or state
        return states

    def dependency_links(self, task_id: str) -> tuple[list[str], list[str]]:
        links = self._by_id(task_id, lambda s: s.dependency_links(task_id) if s.get_task(task_id) else None)
        return links or ([], [])

    # -- pipelines (a run is one tenant's, on its shard) --------------------------
    def pipeline(self, run: str) -> PipelineRun | None:
        return next((r for r in (s.pipeline(run) for s in self.shards) if r is not None), None)

    def pipelines(self, offset: int = 0, limit: int = PAGE, user: str | None = None) -> tuple[list[PipelineRun], int]:
        if user:
            return self.for_user(user).pipelines(offset, limit, user)
        parts = [s.pipelines(0, offset + limit) for s in self.shards]
        runs = sorted((r for rs, _ in parts for r in rs), key=lambda r: -(r.created_at or 0))
        return runs[offset : offset + limit], sum(n for _, n in parts)

    def index_ids(self, index: str, user: str | None = None, limit: int = PAGE) -> list[str]:
        if user:
            return self.for_user(user).index_ids(index, user, limit)
        ids = [i for s in self.shards for i in s.index_ids(index, None, limit)]
        newest_first = index in ("dead", "recent")
        return sorted(ids, reverse=newest_first)[:limit]  # ids start with their enqueue time

    def tenants_by(self, index: str, limit: int = PAGE) -> list[str]:
        if index == "backlog":
            return [u for u, _ in self.tenants_with_backlog(0, limit).items]
        return [u for s in self.shards for u in s.tenants_by(index, limit)][:limit]

    # -- one tenant ------------------------------------------------------------------
    # (a tenant a pin moved has tasks in two shards until its old one drains: both are read)
    def tenant_queue(self, user: str, offset: int = 0, limit: int = PAGE) -> Page:
        shards = self._of_user(user)
        if len(shards) == 1:
            return shards[0].tenant_queue(user, offset, limit)
        pages = [s.tenant_queue(user, 0, offset + limit) for s in shards]
        return _merged_page(pages, offset, limit, lambda t: t.enqueued_at or 0)

    def subkeys(self, user: str, sample: int = 200) -> tuple[int, list[tuple[str, int]]]:
        return self.for_user(user).subkeys(user, sample)

    def recent(self, user: str, limit: int = RECENT) -> list[Task]:
        done = [t for s in self._of_user(user) for t in s.recent(user, limit)]
        return sorted(done, key=lambda t: -(t.finished_at or 0))[:limit]

    def tenant_stats(self, user: str) -> dict[str, int]:
        return _added([s.tenant_stats(user) for s in self._of_user(user)])

    def tenant_rows(self, users: list[str]) -> dict[str, dict[str, int]]:
        """Each tenant's row, summed over its shards; "shard" is where its new tasks go."""
        groups: dict[int, list[str]] = {}
        for u in users:
            for i in self.homes(u):
                groups.setdefault(i, []).append(u)
        rows: dict[str, dict[str, int]] = {}
        for i, part in groups.items():
            for user, row in self.shards[i].tenant_rows(part).items():
                have = rows.get(user)
                if have is None:
                    rows[user] = {**row, "shard": self.shard_of(user)}
                else:  # counts add up; a hold is the later of the two
                    held = max(have.get("held_until", 0), row.get("held_until", 0))
                    rows[user] = {**_added([have, row]), "held_until": held, "shard": self.shard_of(user)}
        return {u: rows[u] for u in users if u in rows}

    # -- listings over every shard -------------------------------------------------
    def running(self, offset: int = 0, limit: int = PAGE) -> Page:
        return _merged_page(self._pages("running", offset, limit), offset, limit, lambda t: t.lease_deadline or 0)

    def delayed(self, offset: int = 0, limit: int = PAGE) -> Page:
        return _merged_page(self._pages("delayed", offset, limit), offset, limit, lambda t: t.run_after or 0)

    def dead_letters(self, offset: int = 0, limit: int = PAGE, user: str | None = None) -> Page:
        if user:
            pages = [s.dead_letters(0, offset + limit, user) for s in self._of_user(user)]
        else:
            pages = self._pages("dead_letters", offset, limit)
        return _merged_page(pages, offset, limit, lambda t: -(t.finished_at or 0))

    # A tenant a pin moved is listed by two shards until its old one drains: once here, its
    # backlog summed (the totals subtract the repeats seen, exact while they are in the page).
    def tenants_with_backlog(self, offset: int = 0, limit: int = PAGE) -> Page:
        pages = self._pages("tenants_with_backlog", offset, limit)
        queued: Counter[str] = Counter()
        for page in pages:
            for user, n in page.items:
                queued[user] += n
        repeats = sum(len(p.items) for p in pages) - len(queued)
        rows = sorted(queued.items(), key=lambda row: -row[1])
        return Page(rows[offset : offset + limit], sum(p.total for p in pages) - repeats, offset, limit)

    def tenant_keys(self, offset: int = 0, limit: int = PAGE, prefix: str = "", by: str = "key") -> Page:
        if by == "backlog":
            page = self.tenants_with_backlog(offset, limit)
            return Page([u for u, _ in page.items], page.total, offset, limit)
        pages = [s.tenant_keys(0, offset + limit, prefix, by) for s in self.shards]
        keys = list(dict.fromkeys(heapq.merge(*(p.items for p in pages))))
        repeats = sum(len(p.items) for p in pages) - len(keys)
        return Page(keys[offset : offset + limit], sum(p.total for p in pages) - repeats, offset, limit)

    def unregistered(self, limit: int = REPORTS) -> list[tuple[str, int]]:
        rows = [row for s in self.shards for row in s.unregistered(limit)]
        return sorted(rows, key=lambda r: -r[1])[:limit]

    def orphaned(self, limit: int = REPORTS) -> list[tuple[str, int]]:
        rows = [row for s in self.shards for row in s.orphaned(limit)]
        return sorted(rows, key=lambda r: -r[1])[:limit]

    # -- totals ------------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        return _added([s.stats() for s in self.shards])

    def priority_stats(self) -> dict[Priority, dict[str, int]]:
        parts = [s.priority_stats() for s in self.shards]
        return {p: _added([part.get(p, {}) for part in parts]) for p in Priority}

    def throughput(self, minutes: int = 60) -> list[tuple[int, dict[str, int]]]:
        parts = [s.throughput(minutes) for s in self.shards]
        by_minute: dict[int, list[dict[str, int]]] = {}
        for part in parts:
            for minute, counts in part:
                by_minute.setdefault(minute, []).append(counts)
        return [(m, _added(rows)) for m, rows in sorted(by_minute.items())][-minutes:]

    def workers(self, limit: int = REPORTS) -> list[WorkerReport]:
        """Each worker reports to every shard: its latest report across them."""
        latest: dict[str, WorkerReport] = {}
        for s in self.shards:
            for report in s.workers(limit):
                have = latest.get(report.worker)
                if have is None or report.last_seen_ms > have.last_seen_ms:
                    latest[report.worker] = report
        return sorted(latest.values(), key=lambda r: -r.last_seen_ms)[:limit]

    def idle(self, within_ms: int = IDLE_WITHIN_MS) -> bool:
        """Idle when every served shard is; a shard that cannot be reached is not known to be."""
        answers = self._each(lambda s, _: s.idle(within_ms))
        return len(answers) == len(self.serving) and all(idle for _, idle in answers)

    def worker_config(self, worker: str) -> WorkerSettings | None:
        """Every shard has the same worker configurations: the first that answers."""
        return self._each_until_one(lambda s: s.worker_config(worker))

    def metrics_snapshot(self, top: int = 50, minutes: int = 5, workers: int = REPORTS) -> MetricsSnapshot:
        parts = [s.metrics_snapshot(top, minutes, workers) for s in self.shards]
        functions: dict[str, dict[str, int]] = {}
        for part in parts:
            for func, counts in part.functions.items():
                functions[func] = _added([functions.get(func, {}), counts])
        return dataclasses.replace(
            parts[0],
            by_priority={p: _added([x.by_priority.get(p, {}) for x in parts]) for p in parts[0].by_priority},
            tenants_with_backlog=sum(x.tenants_with_backlog for x in parts),
            top=sorted((t for x in parts for t in x.top), key=lambda t: -t.backlog)[:top],
            functions=functions,
            workers=self.workers(workers),
            wait_started=sum(x.wait_started for x in parts),
        )

    def config_snapshot(self) -> ConfigSnapshot:
        """Tenants from their shards; workers, schedules and the steal index as shard 0 has them
        (every shard gets the same worker configurations)."""
        parts = [s.config_snapshot() for s in self.shards]
        tenants = {u: t for i, p in enumerate(parts) for u, t in p.tenants.items() if self.shard_of(u) == i}
        schedules = {name: spec for p in parts for name, spec in p.schedules.items()}
        return dataclasses.replace(
            parts[0],
            tenants=tenants,
            schedules=schedules,
            unregistered_weights=sorted({u for p in parts for u in p.unregistered_weights}),
            unregistered_paused=sorted({u for p in parts for u in p.unregistered_paused}),
        )

    def ping(self) -> bool:
        return all(s.ping() for s in self.shards)

    def is_synced(self) -> bool:
        return all(s.is_synced() for s in self.shards)

    def schedules(self) -> tuple[str | None, dict[str, tuple[dict[str, str], dict[str, str]]]]:
        """Every shard's schedules; the version is all of theirs (a change on any one shows)."""
        versions, rows = [], {}
        for i, s in enumerate(self.shards):
            version, part = s.schedules()
            versions.append(version or "")
            for name in part:
                self._schedule_shard[name] = i
            rows.update(part)
        return ("|".join(versions) if any(versions) else None), rows

    def schedules_version(self) -> str | None:
        versions = [s.schedules_version() or "" for s in self.shards]
        return "|".join(versions) if any(versions) else None

    def shard_rows(self) -> list[ShardRow]:
        """Per shard: backlog, running, tenants with work, and its node's memory, ops/s and CPU."""
        rows = []
        for i, s in enumerate(self.shards):
            try:
                stats = s.stats()
                tenants = s.tenants_with_backlog(0, 1).total
                node, info = _node_info(s.redis, "{" + hash_tag_of(s.config.prefix) + "}")
            except OUTAGE as exc:
                rows.append(ShardRow(i, s.config.prefix, "", error=f"unreachable: {exc}"))
                continue
            rows.append(ShardRow(
                i, s.config.prefix, node, stats.get("queued", 0), stats.get("running", 0), stats.get("delayed", 0),
                tenants, str(info.get("used_memory_human", "")), int(info.get("instantaneous_ops_per_sec", 0)),
                float(info.get("used_cpu_user", 0)) + float(info.get("used_cpu_sys", 0)),
            ))  # fmt: skip
        return rows

    def redis_time_ms(self) -> int:
        return self.shards[0].redis_time_ms()

    def fairness(
        self, minutes: int = FAIRNESS_MINUTES, top: int = FAIRNESS_TOP, users: list[str] | None = None
    ) -> tuple[int, list[TenantService]]:
        """A tenant's numbers come from its shard; shares are recomputed over every shard."""
        parts = [s.fairness(minutes, top, users) for s in self.shards]
        grand = sum(g for g, _ in parts)
        time_totals = [next((t.worker_ms / t.time_share for t in rows if t.time_share), 0.0) for _, rows in parts]
        all_time = sum(time_totals)
        merged: dict[str, TenantService] = {}
        for _, rows in parts:
            for t in rows:
                have = merged.get(t.user)
                if have is None or t.served > have.served:
                    merged[t.user] = t
        out = [
            dataclasses.replace(
                t,
                share=t.served / grand if grand else 0.0,
                time_share=t.worker_ms / all_time if all_time else None,
            )
            for t in merged.values()
        ]
        if users is not None:
            return grand, [next(t for t in out if t.user == u) for u in users if any(t.user == u for t in out)]
        return grand, sorted(out, key=lambda t: -t.served)[:top]
