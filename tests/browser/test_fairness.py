"""Fairness in a real browser: the Overview's share vs fair share table (time mode), and a
tenant page with its cap, rate limit and sub-keys, edited through the form; screenshots."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from queueapp import conf
from queueapp.engine import Task
from queueapp.models import Tenant

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_overview_shows_worker_time_shares_in_time_mode(operator, site, fq_settings, shots):
    fq_settings.FAIRQUEUE = {**fq_settings.FAIRQUEUE, "FAIRNESS": "time"}
    conf.get_queue.cache_clear()
    queue = conf.get_queue()
    Tenant.objects.create(key="reports", weight=1)
    Tenant.objects.create(key="webhooks", weight=1)
    queue.push_many([Task("queueapp.demo.noop", user="reports", cost=2000) for _ in range(3)])
    queue.push_many([Task("queueapp.demo.noop", user="webhooks", cost=2) for _ in range(2100)])
    lease = queue.pop("w")
    for _ in range(2001):  # 2 reports (4 s of worker time) and 2,000 webhooks (4 s)
        lease = lease.ack_and_pop(None)
    lease.ack(None)
    operator.goto(f"{site}/")
    expect(operator.locator("#fairness-mode")).to_contain_text("Time-fair mode")
    for tenant in ("webhooks", "reports"):
        cells = operator.locator("tr", has_text=tenant).locator("td")
        expect(cells.nth(5)).to_have_text("50.0 %")  # fair share of two equal weights
        ratio = float(cells.nth(6).inner_text())
        assert 0.95 <= ratio <= 1.05, (tenant, ratio)
    shots(operator, "overview-fairness-time")


def test_tenant_page_shows_caps_and_sub_keys_and_the_form_edits_them(operator, site, queue, shots):
    Tenant.objects.create(key="acme", name="Acme Corp", weight=2, max_running=2)
    queue.push_many([Task("queueapp.demo.noop", user="acme", subkey=f"project-{i % 3}") for i in range(30)])
    held = [queue.pop("w") for _ in range(3)]
    assert sum(1 for le in held if le) == 2  # the cap
    operator.goto(f"{site}/users/acme/")
    expect(operator.locator("#tenant-limits")).to_contain_text("2 / 2")
    expect(operator.locator("#tenant-limits")).to_contain_text("at cap")
    expect(operator.locator("#tenant-subkeys")).to_contain_text("3 sub-keys used")
    shots(operator, "user-detail-limits")
    operator.goto(f"{site}/users/acme/edit/")
    operator.fill("input[name=max_running]", "5")
    operator.fill("input[name=rate_limit]", "20")
    operator.click("button:text('Save')")
    operator.wait_for_url(lambda url: "/edit/" not in url)
    operator.goto(f"{site}/users/acme/")
    expect(operator.locator("#tenant-limits")).to_contain_text("2 / 5")
    expect(operator.locator("#tenant-limits")).to_contain_text("20/s, burst 20")
    expect(operator.locator("#tenant-limits")).not_to_contain_text("at cap")
    assert queue.config_snapshot().tenants["acme"].max_running == 5
