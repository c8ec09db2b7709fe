"""The Overview's fairness table in both modes, and tenant limits on the Users and tenant pages."""

from __future__ import annotations

import dataclasses
import re

import pytest

from queueapp import conf
from queueapp.engine import FairQueue, Task
from queueapp.models import Tenant

pytestmark = pytest.mark.django_db(transaction=True)


def time_mode(fq_settings):
    fq_settings.FAIRQUEUE = {**fq_settings.FAIRQUEUE, "FAIRNESS": "time"}
    conf.get_queue.cache_clear()
    return conf.get_queue()


def drain(queue, n):
    lease = queue.pop("w")
    for _ in range(n - 1):
        lease = lease.ack_and_pop(None)
    lease.ack(None)


def cells(html, tenant):
    row = re.search(rf"<tr>\s*<td><a href=\"/users/{tenant}/\">{tenant}</a>.*?</tr>", html, re.S).group(0)
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_count_mode_shows_task_shares_against_weights(staff, queue):
    Tenant.objects.create(key="gold", weight=3)
    queue.push_many([Task("queueapp.demo.noop", user="gold") for _ in range(30)])
    queue.push_many([Task("queueapp.demo.noop", user="basic") for _ in range(30)])
    drain(queue, 40)  # 30 gold, 10 basic: exactly 3:1
    html = staff.get("/").content.decode()
    assert "Count-fair mode" in html and "Share (tasks)" in html and "Worker time" not in html
    assert cells(html, "gold")[1:6] == ["3", "30", "75.0 %", "75.0 %", "1.00"]
    assert cells(html, "basic")[1:6] == ["1", "10", "25.0 %", "25.0 %", "1.00"]


def test_time_mode_shows_shares_of_worker_time(staff, fq_settings):
    queue = time_mode(fq_settings)
    queue.push_many([Task("queueapp.demo.noop", user="reports", cost=300) for _ in range(3)])
    queue.push_many([Task("queueapp.demo.noop", user="hooks", cost=10) for _ in range(60)])
    drain(queue, 63)
    html = staff.get("/").content.decode()
    assert "Time-fair mode" in html and "Share (time)" in html
    reports, hooks = cells(html, "reports"), cells(html, "hooks")
    assert reports[2] == "3" and reports[3] == "900 ms" and reports[4] == "60.0 %"
    assert hooks[2] == "60" and hooks[3] == "600 ms" and hooks[4] == "40.0 %"


def test_count_mode_records_no_worker_time(queue, rclient, config):
    queue.push_many([Task("queueapp.demo.noop", user="a") for _ in range(3)])
    drain(queue, 3)
    assert not [k for k in rclient.scan_iter(f"{config.prefix}:fair:ms:*")]


def test_worker_time_buckets_expire(fq_settings, rclient, prefix):
    queue = time_mode(fq_settings)
    queue.push(Task("queueapp.demo.noop", user="a", cost=5))
    drain(queue, 1)
    (key,) = list(rclient.scan_iter(f"{prefix}:fair:ms:*"))
    assert 0 < rclient.ttl(key) <= 1200
    assert rclient.hgetall(key) == {"a": "5"}  # no total field: the reader sums


def test_users_and_tenant_pages_show_limits_and_holds(staff, queue):
    Tenant.objects.create(key="capped", max_running=2)
    Tenant.objects.create(key="slow", rate_limit=0.5, rate_burst=1)
    queue.push_many([Task("queueapp.demo.noop", user="capped") for _ in range(5)])
    queue.push_many([Task("queueapp.demo.noop", user="slow") for _ in range(5)])
    leases = [queue.pop("w") for _ in range(4)]
    assert sorted(le.task.user for le in leases if le) == ["capped", "capped", "slow"]
    html = staff.get("/users/").content.decode()
    assert 'badge at-cap">at cap' in html and 'badge throttled">throttled' in html
    page = staff.get("/users/capped/").content.decode()
    assert "2 / 2" in page and "at cap" in page
    page = staff.get("/users/slow/").content.decode()
    assert "0.5/s, burst 1" in page and "throttled" in page
    for le in leases:
        if le and le.task.user == "capped":
            le.ack(None)
    page = staff.get("/users/capped/").content.decode()
    assert "0 / 2" in page and "at cap" not in page


def test_tenant_form_refuses_a_burst_without_a_rate(admin):
    response = admin.post("/users/new/", {"key": "x", "weight": 1, "rate_burst": 5})
    assert response.status_code == 200 and "A burst needs a rate limit" in response.content.decode()
    response = admin.post("/users/new/", {"key": "x", "weight": 1, "max_running": 0})
    assert response.status_code == 200 and not Tenant.objects.filter(key="x").exists()
    response = admin.post("/users/new/", {"key": "x", "weight": 1, "max_running": 3, "rate_limit": 2.5})
    assert response.status_code == 302
    snapshot = FairQueue(conf.get_queue().redis, dataclasses.replace(conf.engine_config())).config_snapshot()
    assert (snapshot.tenants["x"].max_running, snapshot.tenants["x"].rate, snapshot.tenants["x"].burst) == (3, 2.5, 3)


def test_tenant_page_lists_its_sub_keys(staff, queue):
    queue.push_many([Task("queueapp.demo.noop", user="acme", subkey="project-7") for _ in range(5)])
    evil = [Task("queueapp.demo.noop", user="acme", subkey="evil") for _ in range(2)]
    queue.push_many(evil)
    for t in evil:  # a hand edit: what the page shows is escaped
        queue.redis.hset(f"{queue.config.prefix}:task:{t.id}", "subkey", "<b>x</b>")
    queue.push_many([Task("queueapp.demo.noop", user="acme") for _ in range(1)])
    page = staff.get("/users/acme/").content.decode()
    panel = page[page.index('id="tenant-subkeys"') :]
    assert "3 sub-keys used" in panel  # project-7, evil and the tasks without one
    assert re.search(r"project-7</td><td class=\"num\">5<", panel)
    assert "&lt;b&gt;x&lt;/b&gt;" in panel and "<b>x</b>" not in panel
    assert re.search(r"\(none\)</span></td><td class=\"num\">1<", panel)
    assert 'id="tenant-subkeys"' not in staff.get("/users/plain/").content.decode()


def test_the_edit_form_keeps_the_tenant_key(admin):
    Tenant.objects.create(key="acme", weight=2)
    html = admin.get("/users/acme/edit/").content.decode()
    assert re.search(r'name="key" value="acme"', html)  # it was blank: saving the form failed
    assert 'name="key" value="new-one"' in admin.get("/users/new/?key=new-one").content.decode()
