"""The dashboard over 3 shards in a real browser: the Overview's Shards panel counts each
shard's queue, the Users table says where each tenant's tasks go, a pinned tenant's edit
form takes its shard; screenshots for docs/screenshots."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from queueapp.engine import Task
from queueapp.engine.shards import shard_of_user
from queueapp.models import Tenant

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_shards_panel_and_a_pin_from_the_tenant_form(sharded, operator, site, shots):
    users = {}
    for i in range(40):
        users.setdefault(shard_of_user(f"acct-{i}", 3), f"acct-{i}")
    for shard, user in users.items():
        sharded.push_many([Task("queueapp.demo.noop", user=user) for _ in range(shard + 2)])  # 2, 3, 4 queued
    operator.goto(f"{site}/")
    panel = operator.locator("#shards")
    for shard in range(3):
        row = panel.locator("tr", has_text=sharded.shards[shard].config.prefix)
        expect(row).to_contain_text(str(shard + 2))
    shots(operator, "overview-shards")
    Tenant.objects.create(key=users[0])
    operator.goto(f"{site}/users/{users[0]}/edit/")
    operator.fill("input[name=shard]", "2")
    operator.click("main button:has-text('Save')")
    operator.wait_for_url(lambda url: "/edit/" not in url)
    assert sharded.stored_pins() == {users[0]: 2}
    operator.goto(f"{site}/users/")
    row = operator.locator("tr", has_text=users[0])
    expect(row).to_have_count(1)  # listed once, though both its shards know it now
    expect(row.locator("td").nth(1)).to_have_text("2")  # new tasks go to shard 2 now
    shots(operator, "users-shards")
    operator.goto(f"{site}/users/{users[0]}/edit/")
    operator.fill("input[name=shard]", "5")
    operator.click("main button:has-text('Save')")
    expect(operator.locator("main form")).to_contain_text("There are 3 shard(s)")
