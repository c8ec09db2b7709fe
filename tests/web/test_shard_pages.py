"""The dashboard with SHARDS=3: every page renders from all three shards, a tenant's page
from its own, a task's detail and its retry from the shard its id names."""

from __future__ import annotations

import pytest

from queueapp.engine import Task
from queueapp.engine.settings import WorkerReport
from queueapp.engine.shards import ShardedQueue
from queueapp.models import Schedule, Tenant, WorkerConfig
from tests.web.test_pages import PAGES

pytestmark = pytest.mark.django_db(transaction=True)


def users_on_every_shard(queue: ShardedQueue) -> list[str]:
    found: dict[int, str] = {}
    i = 0
    while len(found) < 3:
        found.setdefault(queue.shard_of(f"tenant{i}"), f"tenant{i}")
        i += 1
    return [found[s] for s in range(3)]


def test_every_page_shows_every_shard(sharded, admin):
    users = users_on_every_shard(sharded)
    Tenant.objects.create(key=users[0], name="First", weight=2)
    WorkerConfig.objects.create(worker_id="w1")
    Schedule.objects.create(name="nightly", cron="30 2 * * *", task="queueapp.demo.noop")
    sharded.push_many([Task("queueapp.demo.echo", args=[u], user=u) for u in users for _ in range(2)])
    sharded.push(Task("queueapp.demo.fail", user=users[2], max_retries=0))
    dead = None
    for _ in range(7):
        lease = sharded.pop("w9")  # w1 is configured with no tenants: it serves none
        if lease.task.func == "queueapp.demo.fail":
            dead = lease
            lease.fail(ValueError("shard boom"), retry=False)
            break
        lease.ack(None)
    assert dead is not None and dead.shard == 2
    sharded.heartbeat("w1", [], WorkerReport("w1", 0, 0, host="h", pid=1, ttl_seconds=60))
    for url in PAGES + [f"/users/{u}/" for u in users] + [f"/tasks/{dead.id}/"]:
        response = admin.get(url)
        assert response.status_code == 200, url
    sharded.push_many([Task("queueapp.demo.noop", user=users[0]) for _ in range(3)])
    sharded.push(Task("queueapp.demo.noop", user=users[1]))
    waiting = {i: s.stats()["queued"] for i, s in enumerate(sharded.shards)}
    assert [r.queued for r in sharded.shard_rows()] == [waiting[0], waiting[1], waiting[2]]
    assert waiting[0] >= 3 and waiting[1] >= 1
    overview = admin.get("/").content.decode()
    table = overview.split('id="shards"', 1)[1].split("</table>", 1)[0]
    for shard in range(3):  # a row per shard: its hash tag and its queued count
        row = table.split(f"<code>{sharded.shards[shard].config.prefix}</code>", 1)[1].split("</tr>", 1)[0]
        assert f'<td class="num">{waiting[shard]}</td>' in row
    users_page = admin.get("/users/").content.decode()
    assert all(u in users_page for u in users) and ">Shard</th>" in users_page
    for shard, user in enumerate(users):  # each row shows its tenant's shard
        row = users_page.split(f">{user}</a>", 1)[1].split("</tr>", 1)[0]
        assert f'<td class="num">{shard}</td>' in row.split("badge", 1)[0]
    assert dead.id in admin.get("/dead-letters/").content.decode()
    assert "shard boom" in admin.get(f"/tasks/{dead.id}/").content.decode()
    assert admin.post(f"/tasks/{dead.id}/retry/").status_code in (200, 302)
    assert sharded.get_task(dead.id).state == "queued" and sharded.dead_letters().total == 0


def test_the_backend_enqueues_and_reads_results_through_the_shards(sharded):
    from queueapp.demo import echo

    results = [echo.using(user=u).enqueue(u) for u in users_on_every_shard(sharded)]
    assert sorted(r.id.rsplit("@", 1)[1] for r in results) == ["0", "1", "2"]
    for _ in results:
        lease = sharded.pop("w1")
        lease.ack(lease.task.args[0])
    for r in results:
        r.refresh()
        assert r.status == "SUCCESSFUL" and r.return_value == r.args[0]
