"""The dashboard's read side: engine reads and DB rows -> small dataclasses for
the templates. No HTTP, no templates; nothing scans the keyspace."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.core.cache import cache

from . import conf, sync
from .engine import Priority
from .engine.fairness import TenantService
from .engine.operations import BULK_BATCH
from .engine.settings import WorkerReport
from .models import Tenant, WorkerConfig

LANES = [
    (Priority.CRITICAL, "critical"),
    (Priority.VERY_HIGH, "very high"),
    (Priority.HIGH, "high"),
    (Priority.NORMAL, "normal"),
    (Priority.LOW, "low"),
    (Priority.VERY_LOW, "very low"),
]
FAIRNESS_MINUTES = 15
THROUGHPUT_MINUTES = 60  # the Overview chart's span
ORPHANS_SHOWN = 200
DRIFT_CACHE_SECONDS = 30


def as_dt(ms: int | str | None) -> datetime | None:
    return datetime.fromtimestamp(int(float(ms)) / 1000, tz=UTC) if ms else None


# -- overview ------------------------------------------------------------------------------
@dataclass
class Totals:
    queued: int
    delayed: int
    waiting: int  # on dependencies
    running: int
    succeeded: int
    failed: int
    dead: int
    lanes: list[tuple[str, int]]


def totals() -> Totals:
    queue = conf.get_queue()
    stats, by_prio = queue.stats(), queue.priority_stats()
    return Totals(
        queued=stats["queued"],
        delayed=stats["delayed"],
        waiting=stats["waiting"],
        running=stats["running"],
        succeeded=stats["succeeded"],
        failed=stats["failed"],
        dead=stats["dead"],
        lanes=[(label, by_prio[p]["queued"]) for p, label in LANES],
    )


@dataclass
class Chart:
    """Per-minute throughput as SVG polylines (drawn by the template, no script)."""

    width: int
    height: int
    succeeded: str
    failed: str
    enqueued: str
    peak: int
    total_succeeded: int
    start: datetime | None
    end: datetime | None


def chart(series: list, width: int = 600, height: int = 140) -> Chart:
    """`series`: the per-minute throughput (FairQueue.throughput), oldest first."""
    peak = max([1] + [max(c.get("succeeded", 0), c.get("enqueued", 0), c.get("failed", 0)) for _, c in series])
    step = width / max(1, len(series) - 1)

    def line(name: str) -> str:
        return " ".join(
            f"{i * step:.1f},{height - c.get(name, 0) / peak * (height - 4) - 2:.1f}" for i, (_, c) in enumerate(series)
        )

    return Chart(
        width,
        height,
        line("succeeded"),
        line("failed"),
        line("enqueued"),
        peak,
        sum(c.get("succeeded", 0) for _, c in series),
        as_dt(series[0][0] * 60_000) if series else None,
        as_dt(series[-1][0] * 60_000) if series else None,
    )


@dataclass
class WorkerRow:
    worker_id: str
    config: WorkerConfig | None
    report: WorkerReport | None

    @property
    def alive(self) -> bool:
        return self.report is not None and self.report.is_alive()

    @property
    def last_seen(self) -> datetime | None:
        return as_dt(self.report.last_seen_ms) if self.report else None

    @property
    def state(self) -> str:
        """never seen | stopped | stale (no recent heartbeat) | running | stopping | disabled"""
        if not self.report:
            return "never seen"
        if self.report.state == "stopped":
            return "stopped"
        return self.report.state if self.alive else "stale"

    @property
    def current(self) -> tuple[str, ...]:
        return self.report.current if self.report else ()


def workers() -> list[WorkerRow]:
    """Configured workers and every worker that sent a heartbeat, with liveness."""
    reports = {r.worker: r for r in conf.get_queue().workers()}
    configs = {c.worker_id: c for c in WorkerConfig.objects.all()}
    return [WorkerRow(w, configs.get(w), reports.get(w)) for w in sorted(set(reports) | set(configs))]


SHOWN_TENANTS = 20


def configured_tenants(rows: list[WorkerRow]) -> None:
    """Attach to each configured row its first SHOWN_TENANTS assigned and steal targets and the
    totals (a worker may serve thousands of tenants)."""
    for row in rows:
        if row.config is None:
            continue
        for name in ("assigned_users", "steal_targets"):
            related = getattr(row.config, name)
            shown = list(related.values_list("key", flat=True)[:SHOWN_TENANTS])
            setattr(row, name, shown)
            setattr(row, f"{name}_more", related.count() - len(shown))


@dataclass
class Alert:
    level: str  # "warning" | "danger"
    message: str
    link: str = ""


def drift(refresh: bool = False) -> list[str]:
    """DB vs Redis differences, cached for DRIFT_CACHE_SECONDS (the comparison reads every config)."""
    lines = None if refresh else cache.get("fairqueue:drift")
    if lines is None:
        lines = sync.drift()
        cache.set("fairqueue:drift", lines, DRIFT_CACHE_SECONDS)
    return lines


def alerts(worker_rows: list[WorkerRow], series: list) -> list[Alert]:
    """`series`: the per-minute throughput already read for the chart (its last 15 minutes count)."""
    queue = conf.get_queue()
    found: list[Alert] = []
    orphans = queue.orphaned(limit=ORPHANS_SHOWN)
    if orphans:
        names = ", ".join(f"{u} ({n})" for u, n in orphans[:5]) + (" ..." if len(orphans) > 5 else "")
        found.append(
            Alert(
                "danger",
                f"{len(orphans)} orphaned tenant(s): queued tasks no enabled worker serves: {names}",
                "/workers/",
            )
        )
    stale = [w.worker_id for w in worker_rows if w.state == "stale"]
    if stale:
        found.append(Alert("warning", f"stale worker(s), no heartbeat: {', '.join(stale)}", "/workers/"))
    recent = sum(c.get("dead_lettered", 0) for _, c in series[-15:])
    if recent:
        found.append(
            Alert("warning", f"the dead-letter queue grew by {recent} in the last 15 minutes", "/dead-letters/")
        )
    if drift():
        found.append(Alert("warning", "the configuration in Redis differs from the database (drift)", "/workers/"))
    return found


def overview(with_chart: bool) -> dict[str, object]:
    """The Overview page's context; the throughput series is read once for the chart and alerts."""
    rows = workers()
    served, shares = fairness()
    series = conf.get_queue().throughput(THROUGHPUT_MINUTES)
    context: dict[str, object] = {
        "totals": totals(),
        "workers": rows,
        "alive": sum(w.alive for w in rows),
        "alerts": alerts(rows, series),
        "served": served,
        "fairness": shares,
        "fairness_mode": fairness_mode(),
        "minutes": FAIRNESS_MINUTES,
    }
    if with_chart:
        context["chart"] = chart(series)
    shard_rows = getattr(conf.get_queue(), "shard_rows", None)  # SHARDS > 1: a ShardedQueue
    if shard_rows is not None:
        context["shards"] = shard_rows()
    return context


@dataclass
class FairnessRow:
    service: TenantService
    weight: int
    registered: bool
    share: float | None = None  # in the active mode: of tasks (count) or of worker time (time)
    fair_share: float = 0.0  # its weight over the weights of the tenants listed

    @property
    def ratio(self) -> float | None:
        """share / fair share: 1 is exactly fair (for tenants that had work all along)."""
        return self.share / self.fair_share if self.share is not None and self.fair_share else None


def fairness(top: int = 20) -> tuple[int, list[FairnessRow]]:
    served, services = conf.get_queue().fairness(FAIRNESS_MINUTES, top)
    weights = dict(Tenant.objects.filter(key__in=[s.user for s in services]).values_list("key", "weight"))
    rows = [FairnessRow(s, weights.get(s.user, 1), s.user in weights) for s in services]
    total = sum(r.weight for r in rows)
    time_mode = fairness_mode() == "time"
    for r in rows:
        r.fair_share = r.weight / total if total else 0.0
        r.share = r.service.time_share if time_mode else r.service.share
    return served, rows


def fairness_mode() -> str:
    """FAIRQUEUE["FAIRNESS"]: "count" (tasks) or "time" (worker time); what the shares count."""
    return conf.engine_config().fairness


# -- users ---------------------------------------------------------------------------------
def limit_state(tenant: Tenant | None, counts: dict) -> str | None:
    """ "at cap" or "throttled" while the pop holds the tenant at one of its limits (lib/limits)."""
    if tenant is None or not counts.get("held_until"):
        return None
    if tenant.max_running and counts.get("capped_running", 0) >= tenant.max_running:
        return "at cap"
    return "throttled" if tenant.rate_limit else "at cap"


@dataclass
class TenantRow:
    key: str
    tenant: Tenant | None
    counts: dict
    wait_p95_ms: float | None
    workers: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        if self.tenant is None:
            return "unregistered"
        if self.tenant.paused:
            return "paused"
        return limit_state(self.tenant, self.counts) or "active"

    @property
    def weight(self) -> int:
        return self.tenant.weight if self.tenant else 1


SORTS = {"key": "Tenant", "backlog": "Backlog"}


def tenant_page(query: str = "", sort: str = "key", offset: int = 0, limit: int = 50):
    queue = conf.get_queue()
    page = queue.tenant_keys(offset, limit, prefix=query.strip(), by="backlog" if sort == "backlog" else "key")
    keys = page.items
    counts = queue.tenant_rows(keys) if keys else {}
    _, services = queue.fairness(FAIRNESS_MINUTES, users=keys) if keys else (0, [])
    waits = {s.user: s.wait_p95_ms for s in services}
    tenants = {
        t.key: t for t in Tenant.objects.filter(key__in=keys).prefetch_related("assigned_workers", "stealing_workers")
    }
    steal_all = list(WorkerConfig.objects.filter(enabled=True, steal_all=True).values_list("worker_id", flat=True))
    rows = []
    for key in keys:
        tenant = tenants.get(key)
        serving = []
        if tenant:
            serving = [w.worker_id for w in tenant.assigned_workers.all() if w.enabled] + [
                f"{w.worker_id} (steals)" for w in tenant.stealing_workers.all() if w.enabled
            ]
        serving += [f"{w} (*)" for w in steal_all]
        rows.append(TenantRow(key, tenant, counts[key], waits.get(key), serving))
    return page, rows


@dataclass
class TenantDetail:
    key: str
    tenant: Tenant | None
    counts: dict

    @property
    def limit_state(self) -> str | None:
        return limit_state(self.tenant, self.counts)

    queue_page: object
    running: list
    recent: list
    dead: object
    service: TenantService | None
    subkeys: tuple[int, list[tuple[str, int]]] = (0, [])


SUBKEY_SAMPLE = 200  # queued tasks looked at for the tenant page's sub-keys


def tenant_detail(key: str, offset: int = 0, limit: int = 25) -> TenantDetail:
    queue = conf.get_queue()
    running = [t for t in queue.running(0, 500).items if t.user == key]
    _, services = queue.fairness(FAIRNESS_MINUTES, users=[key])
    return TenantDetail(
        key=key,
        tenant=Tenant.objects.filter(key=key).first(),
        counts=queue.tenant_rows([key])[key],
        queue_page=queue.tenant_queue(key, offset, limit),
        running=running,
        recent=queue.recent(key, 20),
        dead=queue.dead_letters(0, 10, user=key),
        service=services[0] if services else None,
        subkeys=queue.subkeys(key, SUBKEY_SAMPLE),
    )


# -- dead letters ----------------------------------------------------------------------------
SCAN_LIMIT = 5000  # dead letters examined for a task-path or error-text filter


@dataclass
class DeadLetterPage:
    items: list
    total: int
    offset: int
    limit: int
    filtered: bool
    scanned: int

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.items) < self.total


def matches(task, func: str, text: str) -> bool:
    if func and task.func != func:
        return False
    if text:
        error = task.error or {}
        blob = " ".join((error.get("type", ""), error.get("message", ""), task.dead_reason or "")).lower()
        return text.lower() in blob
    return True


def dead_letter_page(user: str = "", func: str = "", text: str = "", offset: int = 0, limit: int = 50):
    """Newest first. A tenant filter uses its own index; task-path and error-text filters
    examine at most SCAN_LIMIT dead letters (the page says so)."""
    queue = conf.get_queue()
    if not func and not text:
        page = queue.dead_letters(offset, limit, user=user or None)
        return DeadLetterPage(page.items, page.total, offset, limit, False, 0)
    found, scanned = [], 0
    while scanned < SCAN_LIMIT:
        batch = queue.dead_letters(scanned, 500, user=user or None).items
        if not batch:
            break
        scanned += 500
        found.extend(t for t in batch if matches(t, func, text))
    return DeadLetterPage(found[offset : offset + limit], len(found), offset, limit, True, min(scanned, SCAN_LIMIT))


def matching_dead_letter_ids(user: str = "", func: str = "", text: str = "") -> list[str]:
    page = dead_letter_page(user, func, text, 0, SCAN_LIMIT)
    if not page.filtered:
        return [t.id for t in conf.get_queue().dead_letters(0, SCAN_LIMIT, user=user or None).items]
    return [t.id for t in page.items]


def act_on_dead_letters(
    action: str, ids: list[str] | None = None, user: str = "", func: str = "", text: str = ""
) -> int:
    """Requeue or delete the dead letters `ids`, or every one matching the filter, in the
    engine's bounded batches; returns how many were handled."""
    queue = conf.get_queue()
    if ids is None and not text:  # the engine filters by tenant and task path itself
        matching = queue.dlq_requeue_matching if action == "requeue" else queue.dlq_delete_matching
        return matching(user=user or None, func=func or None)
    chosen = ids if ids is not None else matching_dead_letter_ids(user, func, text)
    batches = [chosen[i : i + BULK_BATCH] for i in range(0, len(chosen), BULK_BATCH)]
    if action == "requeue":
        return sum(queue.dlq_requeue(batch)[0] for batch in batches)
    return sum(queue.dlq_delete(batch, user or None)[0] for batch in batches)
