"""Read-only inspection for the dashboard: counters, pages, throughput."""

from __future__ import annotations

from queueapp.engine import Priority, State, Task


def test_tenant_queue_pages_in_serve_order(queue):
    for prio in (1, 6, 3, 6, 5):
        queue.push(Task("demo.noop", user="acme", priority=prio, args=[prio]))
    serve_order = [6, 6, 5, 3, 1]
    full = queue.tenant_queue("acme", 0, 10)
    assert [t.priority for t in full.items] == serve_order and full.total == 5
    pages = [queue.tenant_queue("acme", off, 2) for off in (0, 2, 4)]
    assert [t.priority for p in pages for t in p.items] == serve_order
    assert [p.has_next for p in pages] == [True, True, False]
    # the page is what pop would serve next
    assert [queue.pop("w").task.priority for _ in range(5)] == serve_order


def test_counters_per_tenant_and_priority(queue):
    queue.push_many([Task("demo.noop", user="a", priority=Priority.HIGH) for _ in range(3)])
    queue.push(Task("demo.noop", user="b", priority=Priority.LOW))
    lease = queue.pop("w")
    lease.ack()
    a = queue.tenant_stats("a")
    assert (a["enqueued"], a["queued"], a["succeeded"]) == (3, 2, 1)
    by_prio = queue.priority_stats()
    assert by_prio[Priority.HIGH]["queued"] == 2 and by_prio[Priority.LOW]["queued"] == 1
    assert by_prio[Priority.CRITICAL]["queued"] == 0
    assert queue.stats()["enqueued"] == 4


def test_tenants_with_backlog_largest_first(queue):
    for user, n in (("small", 1), ("big", 5), ("mid", 3)):
        queue.push_many([Task("demo.noop", user=user) for _ in range(n)])
    page = queue.tenants_with_backlog()
    assert page.items == [("big", 5), ("mid", 3), ("small", 1)] and page.total == 3


def test_throughput_buckets_count_events_per_minute(queue):
    queue.push_many([Task("demo.noop") for _ in range(4)])
    for _ in range(3):
        queue.pop("w").ack()
    series = queue.throughput(minutes=5)
    assert len(series) == 5 and series[-1][0] > series[0][0]
    last = series[-1][1]
    if last.get("enqueued") != 4:  # the minute turned over between push and read
        last = {k: series[-1][1].get(k, 0) + series[-2][1].get(k, 0) for k in ("enqueued", "succeeded")}
    assert last["enqueued"] == 4 and last["succeeded"] == 3


def test_running_and_delayed_pages(queue):
    queue.push_many([Task("demo.noop", args=[i]) for i in range(3)])
    queue.push(Task("demo.noop", run_after=99_999_999_999_999))
    leases = [queue.pop("w") for _ in range(2)]
    running = queue.running()
    assert running.total == 2 and {t.id for t in running.items} == {le.id for le in leases}
    assert all(t.state == State.RUNNING for t in running.items)
    assert queue.delayed().total == 1


def test_get_task_of_an_unknown_id_is_none(queue):
    assert queue.get_task("nope") is None
