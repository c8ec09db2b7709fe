"""Prometheus metrics (docs/operations.md, "Prometheus"): a collector that reads the queue in
Redis at scrape time through the engine client, rendered on a registry of its own.

Nothing is counted in the web process (every number is one the Lua scripts keep in Redis), so
any number of gunicorn workers, threads or restarts show the same values. One scrape is three
pipelined round trips (`metrics_snapshot`) whose size grows with METRICS_TOP_TENANTS, the
workers and the task functions, never with the number of tenants.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.core.exceptions import ImproperlyConfigured
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from . import conf
from .engine import FairQueue, Priority
from .engine.errors import QueueUnavailable
from .engine.fairness import bucket_upper_ms
from .engine.metrics_reads import MetricsSnapshot, TenantMetrics

DEFAULT_TOP_TENANTS = 50
OTHER = "other"  # the tenant label summing every tenant not listed (a tenant named "other" is in it)
GAUGES = ("queued", "delayed", "running", "dead")  # today's gauges; the other stats are counters
WAITING_DOC = "Tasks waiting on dependencies now (a gauge's value: the name is kept for existing dashboards)"
WAIT_MINUTES = 5  # the window of the wait histogram (this minute and the 4 before; buckets live 20)
# le edges of the wait histogram: every 4th quarter-octave bucket edge of the engine, 2^j - 1 ms
# (7 ms .. 17.5 min); waits longer than the last are in +Inf only
WAIT_EDGES = tuple(4 * j - 1 for j in range(3, 21))


def top_tenants() -> int:
    value = conf.fairqueue_settings().get("METRICS_TOP_TENANTS", DEFAULT_TOP_TENANTS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ImproperlyConfigured(f"FAIRQUEUE['METRICS_TOP_TENANTS'] must be an integer >= 0, got {value!r}")
    return value


def metrics_token() -> str:
    return str(conf.fairqueue_settings().get("METRICS_TOKEN") or "")


def metrics_public() -> bool:
    return bool(conf.fairqueue_settings().get("METRICS_PUBLIC", False))


def _wait_buckets(waits: dict[int, int]) -> list[tuple[str, float]]:
    """Cumulative Prometheus buckets (le in seconds) from the engine's quarter-octave counts."""
    out = [
        (floatToGoString(bucket_upper_ms(edge) / 1000), float(sum(n for b, n in waits.items() if b <= edge)))
        for edge in WAIT_EDGES
    ]
    return [*out, ("+Inf", float(sum(waits.values())))]


def _gauge(name: str, doc: str, labels: list[str], rows: list[tuple[list[str], float]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in rows:
        family.add_metric(values, value)
    return family


def families(snap: MetricsSnapshot, top: int) -> Iterator[Metric]:
    """The metric families of one snapshot (`top`: how many tenants get series of their own)."""
    yield GaugeMetricFamily("fairqueue_up", "1 when Redis answers, 0 when it does not", value=1)

    # today's series, unchanged: every stat, global and per priority
    totals = snap.totals
    for name in sorted(totals):
        per_prio = [([str(int(p))], float(snap.by_priority.get(int(p), {}).get(name, 0))) for p in Priority]
        family: GaugeMetricFamily | CounterMetricFamily
        if name in GAUGES:
            family = GaugeMetricFamily(f"fairqueue_tasks_{name}", f"Tasks {name} now", labels=["priority"])
        else:
            doc = f"Tasks {name}, in all" if name != "waiting" else WAITING_DOC
            family = CounterMetricFamily(f"fairqueue_tasks_{name}", doc, labels=["priority"])
        family.add_metric([], float(totals[name]))  # no label: the queue's total (zip leaves none)
        for labels, value in per_prio:
            family.add_metric(labels, value)
        yield family
    yield GaugeMetricFamily(
        "fairqueue_workers", "Workers that ever reported (the 1000 most recent), alive or not", len(snap.workers)
    )

    # per tenant: the top ones by backlog, then "other" for the rest (totals minus the listed)
    listed: list[TenantMetrics] = [t for t in snap.top if t.user != OTHER][:top]
    rest = {
        "backlog": totals["queued"] - sum(t.backlog for t in listed),
        "running": totals["running"] - sum(t.running for t in listed),
        "dead": totals["dead"] - sum(t.dead for t in listed),
    }
    yield GaugeMetricFamily(
        "fairqueue_tenants_with_backlog", "Tenants with queued tasks", value=snap.tenants_with_backlog
    )
    for field, doc in (
        ("backlog", "Queued tasks of the tenant (top tenants by backlog; other: every other tenant)"),
        ("running", "Running tasks of the tenant (top tenants by backlog; other: every other tenant)"),
        ("dead", "Dead letters of the tenant (top tenants by backlog; other: every other tenant)"),
    ):
        rows = [([t.user], float(getattr(t, field))) for t in listed] + [([OTHER], float(max(0, rest[field])))]
        yield _gauge(f"fairqueue_tenant_{field}", doc, ["tenant"], rows)
    yield _gauge(
        "fairqueue_tenant_orphaned",
        "1 when the tenant has queued tasks and no enabled worker serves it (top tenants by backlog)",
        ["tenant"],
        [([t.user], float(t.orphaned)) for t in listed],
    )
    wait = HistogramMetricFamily(
        "fairqueue_tenant_wait_seconds",
        f"Queue wait of the tasks the tenant started in the last {WAIT_MINUTES} minutes (top tenants by "
        "backlog): a sliding window, not a counter, so use histogram_quantile() on it without rate()",
        labels=["tenant"],
    )
    for t in listed:
        wait.add_metric([t.user], _wait_buckets(t.waits), None)
    yield wait
    yield GaugeMetricFamily(
        "fairqueue_tasks_started_window",
        f"Tasks of every tenant started in the last {WAIT_MINUTES} minutes (the wait histogram's window)",
        value=snap.wait_started,
    )

    # per task function: terminal outcomes counted by the scripts
    outcomes = CounterMetricFamily(
        "fairqueue_function_tasks",
        "Tasks that ended, per task function and outcome (succeeded, failed, dead)",
        labels=["function", "outcome"],
    )
    for func in sorted(snap.functions):
        for outcome in ("succeeded", "failed", "dead"):
            outcomes.add_metric([func, outcome], float(snap.functions[func].get(outcome, 0)))
    yield outcomes

    # per worker: its last heartbeat report, while Redis keeps it (it expires TTL seconds after
    # the worker's last heartbeat: workers gone for good leave no series behind)
    workers = sorted((r for r in snap.workers if r.ttl_seconds > 0), key=lambda r: r.worker)
    yield GaugeMetricFamily(
        "fairqueue_workers_alive",
        "Workers that reported within their TTL and have not stopped",
        value=sum(r.is_alive() for r in workers),
    )
    yield _gauge(
        "fairqueue_worker_heartbeat_age_seconds",
        "Seconds since the worker's last heartbeat (Redis time); it beats every LEASE_SECONDS / 3",
        ["worker"],
        [([r.worker], max(0, r.observed_ms - r.last_seen_ms) / 1000) for r in workers],
    )
    yield _gauge(
        "fairqueue_worker_alive",
        "1 when the worker reported within its TTL and has not stopped",
        ["worker"],
        [([r.worker], float(r.is_alive())) for r in workers],
    )
    yield _gauge(
        "fairqueue_worker_state",
        "The state of the worker's last report (running, stopping, disabled, stopped): 1",
        ["worker", "state"],
        [([r.worker, r.state], 1.0) for r in workers],
    )
    yield _gauge(
        "fairqueue_worker_busy",
        "Tasks the worker was running at its last heartbeat",
        ["worker"],
        [([r.worker], float(len(r.current))) for r in workers],
    )
    yield _gauge(
        "fairqueue_worker_concurrency",
        "Task slots of the worker",
        ["worker"],
        [([r.worker], float(r.concurrency)) for r in workers],
    )


class QueueCollector(Collector):
    """Reads the queue when collected (each scrape); `up` tells the view whether Redis answered."""

    def __init__(self, queue: FairQueue, top: int) -> None:
        self.queue, self.top = queue, top
        self.up: bool | None = None

    def collect(self) -> Iterator[Metric]:
        try:
            # one more than shown: a tenant named "other" is left out of the list, not of the top
            snap = self.queue.metrics_snapshot(top=self.top + 1, minutes=WAIT_MINUTES)
        except QueueUnavailable:
            self.up = False
            yield GaugeMetricFamily("fairqueue_up", "1 when Redis answers, 0 when it does not", value=0)
            return
        self.up = True
        yield from families(snap, self.top)


def render(queue: FairQueue | None = None) -> tuple[bytes, bool]:
    """(the exposition text, whether Redis answered) for one scrape, on a registry of its own
    (never prometheus_client's global one: nothing of this process is shown or kept)."""
    collector = QueueCollector(queue or conf.get_queue(), top_tenants())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry), bool(collector.up)
