"""/metrics (issue 14): prometheus-client's collector over a real Redis, read through the test
client and parsed with prometheus-client's own parser; who may scrape; Redis down; the cost of
a scrape with 10,000 tenants."""

from __future__ import annotations

import json
import math
import re
import socket
import time
from pathlib import Path

import pytest
import yaml
from django.contrib.auth.models import User
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from queueapp import conf
from queueapp.engine import Task
from queueapp.engine.keys import Keys
from queueapp.engine.settings import WorkerReport, WorkerSettings

pytestmark = pytest.mark.django_db
TOKEN = "s3cret-metrics-token"
WAIT_LE = [f"{(2**j - 1) / 1000}" for j in range(3, 21)] + ["+Inf"]  # 0.007 .. 1048.575 s


@pytest.fixture
def metrics_settings(fq_settings):
    fq_settings.FAIRQUEUE = {**fq_settings.FAIRQUEUE, "METRICS_TOKEN": TOKEN, "METRICS_TOP_TENANTS": 2}
    return fq_settings


def scrape(client: Client, token: str | None = TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get("/metrics", headers=headers)


def samples(response) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} of a response, as prometheus-client parses it."""
    out = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(parsed, name: str, **labels) -> float:
    return parsed[(name, frozenset(labels.items()))]


def by_label(parsed, name: str, label: str) -> dict[str, float]:
    return {dict(lbl)[label]: v for (n, lbl), v in parsed.items() if n == name}


def wait_bucket(wait_ms: int) -> int:
    """The engine's quarter-octave bucket of a wait (lua/lib/stats.lua, fair_add)."""
    return min(80, math.floor(4 * math.log(max(wait_ms, 0) + 1) / math.log(2)))


def cumulative(buckets: dict[int, int]) -> dict[str, float]:
    """Expected `le` -> count for the engine buckets (the edge of le = 2^j - 1 ms is bucket 4j - 1)."""
    edges = [4 * j - 1 for j in range(3, 21)]
    out = {le: float(sum(n for b, n in buckets.items() if b <= edge)) for le, edge in zip(WAIT_LE, edges, strict=False)}
    out["+Inf"] = float(sum(buckets.values()))
    return out


def known_workload(queue):
    """a: 1 running + 5 queued; b: 2 succeeded + 3 queued; c: 1 dead + 1 queued.
    Worker w1 (configured: a assigned, b stolen) reports in; pops go to an unconfigured worker."""
    queue.set_worker_config(WorkerSettings("w1", assigned=["a"], steal=["b"]))
    queue.push(Task("queueapp.demo.noop", user="a"))
    running = queue.pop("any")
    queue.push(Task("queueapp.demo.fail", user="c", max_retries=0))
    dead = queue.pop("any")
    dead.fail(ValueError("boom"), retry=False)
    queue.push_many([Task("queueapp.demo.echo", args=[i], user="b") for i in range(2)])
    done = [queue.pop("any"), queue.pop("any")]
    for lease in done:
        lease.ack(None)
    queue.push_many([Task("queueapp.demo.noop", user=u) for u, n in (("a", 5), ("b", 3), ("c", 1)) for _ in range(n)])
    queue.heartbeat("w1", [], WorkerReport("w1", 0, 0, host="h", pid=1, concurrency=4, ttl_seconds=60))
    assert (running.task.user, dead.task.user, {le.task.user for le in done}) == ("a", "c", {"b"})
    return running, dead, done


def expected_waits(raw, prefix: str, ids: list[str]) -> dict[int, int]:
    """The wait buckets of these started tasks, from their records (started_at - ready_at)."""
    out: dict[int, int] = {}
    for task_id in ids:
        rec = raw.hgetall(Keys(prefix).task(task_id))
        wait = int(rec["started_at"]) - int(rec.get("ready_at") or rec["enqueued_at"])
        out[wait_bucket(wait)] = out.get(wait_bucket(wait), 0) + 1
    return out


def test_a_known_workload_gives_exact_tenant_histogram_and_function_series(metrics_settings, raw, prefix, client):
    queue = conf.get_queue()
    running, dead, done = known_workload(queue)
    response = scrape(client)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain; version=0.0.4")
    m = samples(response)

    assert value(m, "fairqueue_up") == 1
    # per tenant, top 2 by backlog, and every other tenant in "other" (c: 1 queued, 1 dead)
    assert by_label(m, "fairqueue_tenant_backlog", "tenant") == {"a": 5, "b": 3, "other": 1}
    assert by_label(m, "fairqueue_tenant_running", "tenant") == {"a": 1, "b": 0, "other": 0}
    assert by_label(m, "fairqueue_tenant_dead", "tenant") == {"a": 0, "b": 0, "other": 1}
    assert by_label(m, "fairqueue_tenant_orphaned", "tenant") == {"a": 0, "b": 0}
    assert value(m, "fairqueue_tenants_with_backlog") == 3
    # wait histograms: exactly the buckets of the tasks each tenant started, from their records
    for user, ids in (("a", [running.id]), ("b", [le.id for le in done])):
        buckets = {
            dict(lbl)["le"]: v
            for (n, lbl), v in m.items()
            if n == "fairqueue_tenant_wait_seconds_bucket" and dict(lbl)["tenant"] == user
        }
        assert buckets == cumulative(expected_waits(raw, prefix, ids)), user
    assert {dict(lbl)["tenant"] for (n, lbl) in m if n == "fairqueue_tenant_wait_seconds_bucket"} == {"a", "b"}
    assert value(m, "fairqueue_tasks_started_window") == 4
    # per task function: terminal outcomes
    assert value(m, "fairqueue_function_tasks_total", function="queueapp.demo.echo", outcome="succeeded") == 2
    assert value(m, "fairqueue_function_tasks_total", function="queueapp.demo.echo", outcome="dead") == 0
    assert value(m, "fairqueue_function_tasks_total", function="queueapp.demo.fail", outcome="dead") == 1
    assert (
        "fairqueue_function_tasks_total",
        frozenset({("function", "queueapp.demo.noop"), ("outcome", "succeeded")}),
    ) not in m
    # today's series, unchanged: global and per priority
    assert value(m, "fairqueue_tasks_queued") == 9 and value(m, "fairqueue_tasks_queued", priority="3") == 9
    assert value(m, "fairqueue_tasks_running") == 1 and value(m, "fairqueue_tasks_dead") == 1
    assert value(m, "fairqueue_tasks_succeeded_total") == 2
    assert value(m, "fairqueue_tasks_enqueued_total", priority="3") == 13
    assert value(m, "fairqueue_tasks_dead_lettered_total") == 1
    assert value(m, "fairqueue_workers") == 1
    # the worker's report
    assert 0 <= value(m, "fairqueue_worker_heartbeat_age_seconds", worker="w1") < 5
    assert value(m, "fairqueue_worker_alive", worker="w1") == 1
    assert value(m, "fairqueue_worker_concurrency", worker="w1") == 4
    assert value(m, "fairqueue_worker_state", worker="w1", state="running") == 1
    assert value(m, "fairqueue_workers_alive") == 1


def test_histogram_buckets_follow_the_engine_edges_and_orphans_show(metrics_settings, raw, prefix, client):
    """Buckets written straight into this minute's fairness hash: le = 2^j - 1 ms holds engine
    buckets up to 4j - 1; longer than the last edge only in +Inf. Tenant z has no worker."""
    metrics_settings.FAIRQUEUE = {**metrics_settings.FAIRQUEUE, "METRICS_TOP_TENANTS": 3}
    queue = conf.get_queue()
    queue.set_worker_config(WorkerSettings("w1", assigned=["a"]))
    queue.push_many([Task("queueapp.demo.noop", user=u) for u in ("a", "a", "z")])
    keys, minute = Keys(prefix), queue.redis_time_ms() // 60000
    known = {0: 3, 11: 2, 12: 1, 40: 4, 80: 1}
    for bucket, n in known.items():
        raw.hincrby(keys.fair_wait(minute), f"z:{bucket}", n)
    raw.zincrby(keys.fair_served(minute), sum(known.values()), "z")
    now = queue.redis_time_ms()
    raw.zadd(keys.workers(), {"w-old": now - 90_000, "w-gone": now - 900_000})  # heartbeats 90 s, 15 min ago
    raw.hset(keys.worker_info("w-old"), mapping={"state": "running", "ttl": 60})  # its report, still stored
    m = samples(scrape(client))
    z = {dict(lbl)["le"]: v for (n, lbl), v in m.items() if n == "fairqueue_tenant_wait_seconds_bucket"}
    assert z == cumulative(known)
    assert (z["0.007"], z["0.015"], z["2.047"], z["1048.575"], z["+Inf"]) == (5, 6, 10, 10, 11)
    assert by_label(m, "fairqueue_tenant_orphaned", "tenant") == {"a": 0, "z": 1}
    assert by_label(m, "fairqueue_tenant_backlog", "tenant") == {"a": 2, "z": 1, "other": 0}
    assert by_label(m, "fairqueue_worker_heartbeat_age_seconds", "worker").keys() == {"w-old"}  # w-gone: expired
    assert 90 <= value(m, "fairqueue_worker_heartbeat_age_seconds", worker="w-old") < 95
    assert value(m, "fairqueue_worker_alive", worker="w-old") == 0
    assert value(m, "fairqueue_worker_state", worker="w-old", state="running") == 1
    assert (value(m, "fairqueue_workers"), value(m, "fairqueue_workers_alive")) == (2, 0)


def test_a_tenant_named_other_is_counted_in_the_other_bucket(metrics_settings, client):
    queue = conf.get_queue()
    queue.push_many(
        [Task("queueapp.demo.noop", user=u) for u, n in (("other", 4), ("a", 2), ("b", 1)) for _ in range(n)]
    )
    m = samples(scrape(client))
    assert by_label(m, "fairqueue_tenant_backlog", "tenant") == {"a": 2, "b": 1, "other": 4}


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, None),
        ({"Authorization": "Bearer wrong"}, "invalid_token"),
        ({"Authorization": f"Bearer {TOKEN}x"}, "invalid_token"),
        ({"Authorization": f"Basic {TOKEN}"}, None),
    ],
    ids=["no-token", "wrong-token", "longer-token", "not-bearer"],
)
def test_scrapes_without_the_token_get_401_with_a_bearer_challenge(metrics_settings, client, headers, error):
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith("Bearer realm=") and (
        f'error="{error}"' in challenge if error else "error" not in challenge
    )
    body = response.content.decode()
    assert body.count("\n") == 1 and "Traceback" not in body and TOKEN not in body


def test_a_staff_session_may_scrape_and_other_users_may_not(metrics_settings):
    staff, plain = Client(), Client()
    staff.force_login(User.objects.create_user("op", password="pw", is_staff=True))
    plain.force_login(User.objects.create_user("plain", password="pw"))
    assert staff.get("/metrics").status_code == 200
    assert plain.get("/metrics").status_code == 401


def test_without_a_token_only_staff_may_scrape(fq_settings, client):
    assert "METRICS_TOKEN" not in fq_settings.FAIRQUEUE or not fq_settings.FAIRQUEUE["METRICS_TOKEN"]
    assert client.get("/metrics").status_code == 401
    response = scrape(client, "anything")
    assert response.status_code == 401 and "no metrics token is configured" in response.content.decode()


def test_metrics_public_opens_it(fq_settings, client):
    fq_settings.FAIRQUEUE = {**fq_settings.FAIRQUEUE, "METRICS_PUBLIC": True}
    response = client.get("/metrics")
    assert response.status_code == 200 and value(samples(response), "fairqueue_up") == 1


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_redis_unreachable_answers_up_0_with_status_200(metrics_settings, client):
    metrics_settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    metrics_settings.FAIRQUEUE = {**metrics_settings.FAIRQUEUE, "REDIS": {"RETRIES": 0}}
    conf.get_queue.cache_clear()
    response = scrape(client)
    assert response.status_code == 200  # Prometheus keeps the body of a 200 only
    assert samples(response) == {("fairqueue_up", frozenset()): 0.0}


def test_a_scrape_of_10000_tenants_stays_under_300_ms(metrics_settings, client):
    """10,000 tenants with work (and some served, so the wait buckets are read), 20 workers:
    the best of 3 scrapes through the test client, under 300 ms."""
    metrics_settings.FAIRQUEUE = {**metrics_settings.FAIRQUEUE, "METRICS_TOP_TENANTS": 50}
    queue = conf.get_queue()
    n = 10_000
    for start in range(0, n, 2000):
        queue.push_many(
            [Task("queueapp.demo.noop", user=f"t{i:05d}") for i in range(start, start + 2000) for _ in (0, 1)]
        )
    queue.push_many([Task("queueapp.demo.noop", user="t00000") for _ in range(10)])  # the largest backlog
    served = queue.ack_and_pop_many([], "w", 500)
    for w in range(20):
        queue.heartbeat(f"w{w}", [], WorkerReport(f"w{w}", 0, 0, ttl_seconds=60))
    timings = []
    for _ in range(3):
        began = time.perf_counter()
        response = scrape(client)
        timings.append(time.perf_counter() - began)
        assert response.status_code == 200
    m = samples(response)
    backlog = by_label(m, "fairqueue_tenant_backlog", "tenant")
    assert len(backlog) == 51 and backlog["t00000"] == 12 - sum(le.task.user == "t00000" for le in served.leases)
    assert sum(backlog.values()) == 2 * n + 10 - len(served.leases)
    assert value(m, "fairqueue_tenants_with_backlog") == n
    assert len(by_label(m, "fairqueue_worker_heartbeat_age_seconds", "worker")) == 20
    print(f"10,000-tenant scrape: best {min(timings) * 1000:.1f} ms of {[round(t * 1000, 1) for t in timings]}")
    assert min(timings) < 0.3, timings


def test_the_documented_rules_and_dashboard_use_series_that_exist(metrics_settings, client):
    """docs/operations.md's Prometheus YAML parses, and every fairqueue_* series its rules and
    docs/grafana/fairqueue.json query is one a scrape has."""
    root = Path(__file__).resolve().parents[2]
    known_workload(conf.get_queue())
    names = {name for name, _ in samples(scrape(client))}
    section = (root / "docs/operations.md").read_text().split("## Prometheus\n", 1)[1].split("\n## ", 1)[0]
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", section, re.S)]
    assert blocks[0]["scrape_configs"][0]["authorization"]["credentials_file"]
    exprs = [rule["expr"] for rule in blocks[1]["groups"][0]["rules"]]
    dashboard = json.loads((root / "docs/grafana/fairqueue.json").read_text())
    exprs += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {n for e in exprs for n in re.findall(r"fairqueue_[a-z_]+", e)}
    assert len(exprs) > 10 and used and used <= names, used - names
