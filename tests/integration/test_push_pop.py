"""Push, lanes and serve order within one tenant; the producer tests run through both clients (anyqueue)."""

from __future__ import annotations

import dataclasses
import time

import pytest
import redis

from queueapp.engine import InvalidTask, Priority, State, Task


def t(user="acme", priority=Priority.NORMAL, **kw):
    return Task("demo.noop", user=user, priority=priority, **kw)


def drain(q, worker="w1"):
    """Pop and ack until empty, through the queue (so the async client's runner awaits them)."""
    out = []
    while (lease := q.pop(worker)) is not None:
        out.append(lease)
        q.ack(lease)
    return out


def test_push_then_pop_returns_the_task_under_lease(anyqueue):
    pushed = anyqueue.push(Task("demo.echo", args=[1, "two"], kwargs={"x": [3]}, user="acme"))
    assert pushed.created
    lease = anyqueue.pop("w1")
    assert lease.id == pushed.id
    assert lease.task.args == [1, "two"] and lease.task.kwargs == {"x": [3]}
    assert lease.task.state == State.RUNNING and lease.task.deliveries == 1
    assert lease.task.worker == "w1" and lease.task.lease_token == lease.token
    assert anyqueue.pop("w1") is None


def test_push_is_idempotent_on_the_task_id(anyqueue):
    task = t()
    assert anyqueue.push(task).created
    again = anyqueue.push(dataclasses.replace(task, args=[99]))
    assert again.id == task.id and not again.created
    assert anyqueue.stats()["queued"] == 1
    lease = anyqueue.pop("w1")
    assert lease.task.args == [] and anyqueue.pop("w1") is None


def evalsha_calls(client):
    """Script calls of either kind: FCALL (the Functions library) or EVALSHA."""
    stats = client.info("commandstats")
    return sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("fcall", "evalsha"))


@pytest.mark.single_redis("counts commands in one server's INFO commandstats")
@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_batch_push_in_one_round_trip_keeps_order(queue, rclient, monkeypatch):
    tasks = [t(args=[i]) for i in range(1200)]  # three chunks of 500
    queue.cancel(queue.push(t()).id)  # the library loaded (the first test of a run: a LOAD, then resends)
    executes = []
    original = redis.client.Pipeline.execute
    monkeypatch.setattr(
        redis.client.Pipeline, "execute", lambda self, *a, **k: executes.append(1) or original(self, *a, **k)
    )
    before = evalsha_calls(rclient)
    results = queue.push_many(tasks)
    assert evalsha_calls(rclient) - before == 3  # one script call per chunk of 500
    assert len(executes) == 1  # ... sent as one pipeline
    assert [r.id for r in results] == [x.id for x in tasks] and all(r.created for r in results)
    assert [le.task.args[0] for le in drain(queue)] == list(range(1200))


def test_push_each_gives_every_call_its_own_id_and_payload_with_the_task_options(anyqueue):
    template = Task("demo.echo", user="acme", priority=Priority.HIGH, max_retries=7, timeout=9.5, queue="q2")
    results = anyqueue.push_each(template, [([i], {"n": i}) for i in range(5)])
    assert all(r.created for r in results) and len({r.id for r in results}) == 5
    assert template.id not in {r.id for r in results}  # each call an id of its own
    for i, r in enumerate(results):
        stored = anyqueue.get_task(r.id)
        assert (stored.args, stored.kwargs, stored.user, stored.func) == ([i], {"n": i}, "acme", "demo.echo")
        assert (stored.priority, stored.max_retries, stored.timeout, stored.queue) == (Priority.HIGH, 7, 9.5, "q2")
    assert [le.task.args[0] for le in drain(anyqueue)] == list(range(5))


@pytest.mark.one_shard("reads its queue's records by name")
def test_push_each_stores_the_same_record_as_push_though_its_options_travel_once(queue, raw, prefix):
    template = Task("demo.echo", user="acme", priority=Priority.HIGH, max_retries=7, timeout=9.5, queue="q2")
    (each,) = queue.push_each(template, [([1], {"n": 1})])
    single = queue.push(dataclasses.replace(template, id="single-1", args=[1], kwargs={"n": 1}))
    records = [raw.hgetall(f"{prefix}:task:{r.id}") for r in (each, single)]
    for record in records:
        del record["id"], record["enqueued_at"], record["score"], record["history"]
    assert (
        records[0] == records[1] and records[0]["priority"] == str(int(Priority.HIGH)) and records[0]["queue"] == "q2"
    )
    # a hand-made call: a task's own field wins over the call's shared one ("base")
    shared = {k: v for k, v in queue.core._push_doc(template).items() if k not in ("id", "payload")}
    own = {"id": "own-prio", "payload": '{"args":[],"kwargs":{}}', "priority": "1"}
    call = queue.core._push_call([own], base=shared)
    assert [r.created for r in queue._execute(call)] == [True]
    assert raw.hget(f"{prefix}:task:own-prio", "priority") == "1" and queue.get_task("own-prio").queue == "q2"


def test_push_each_refuses_a_bad_call_before_anything_is_pushed(anyqueue):
    with pytest.raises(InvalidTask, match="JSON|serializable"):
        anyqueue.push_each(t(), [([1], {}), ([object()], {})])
    with pytest.raises(InvalidTask, match="user"):
        anyqueue.push_each(t(user="bad user"), [([1], {})])
    assert anyqueue.stats()["enqueued"] == 0 and anyqueue.pop("w1") is None


def test_start_push_each_checks_here_and_pushes_under_way_with_the_ids_given(anyqueue):
    ids = anyqueue.new_ids("acme", 4)
    with pytest.raises(InvalidTask, match="JSON|serializable"):  # raised by the call itself, nothing sent
        anyqueue.start_push_each(t(user="acme"), [([1], {}), ([object()], {}), ([3], {}), ([4], {})], ids)
    assert anyqueue.stats()["enqueued"] == 0
    pending = anyqueue.start_push_each(t(user="acme"), [([i], {}) for i in range(4)], ids)
    results = pending.result() if hasattr(pending, "result") else pending  # the async runner awaited it
    assert [r.id for r in results] == ids and all(r.created for r in results)
    assert [anyqueue.get_task(i).args for i in ids] == [[0], [1], [2], [3]]
    with pytest.raises(InvalidTask, match="3 ids for 4 calls"):
        anyqueue.push_each(t(user="acme"), [([i], {}) for i in range(4)], ids[:3])


def test_duplicate_ids_inside_one_batch_create_one_task(anyqueue):
    task = t()
    results = anyqueue.push_many([task, task])
    assert [r.created for r in results] == [True, False]
    assert anyqueue.stats()["queued"] == 1


def test_a_batch_keeps_the_lane_order_single_pushes_give(queue):
    """One script call for many tasks leaves the order one push per task leaves (CRITICAL first
    and FIFO, then priority, then FIFO), tenant by tenant."""
    prios = [1, 3, 6, 5, 2, 6, 4, 3, 6, 1, 5, 5]
    for i, prio in enumerate(prios):
        queue.push(t(user="single", priority=prio, args=[i]))
    queue.push_many([t(user="batch", priority=prio, args=[i]) for i, prio in enumerate(prios)])
    served = [(le.task.user, le.task.priority, le.task.args[0]) for le in drain(queue)]
    single = [(p, a) for u, p, a in served if u == "single"]
    assert [(p, a) for u, p, a in served if u == "batch"] == single
    assert [p for p, _ in single] == sorted(prios, reverse=True)
    assert queue.stats()["succeeded"] == 2 * len(prios)


def test_critical_lane_is_served_first_then_priorities_high_to_low(anyqueue):
    for prio in [1, 3, 6, 5, 2, 6, 4]:
        anyqueue.push(t(priority=prio, args=[prio]))
    order = [le.task.priority for le in drain(anyqueue)]
    assert order == [6, 6, 5, 4, 3, 2, 1]


def test_critical_lane_is_fifo(anyqueue):
    ids = [anyqueue.push(t(priority=Priority.CRITICAL)).id for _ in range(5)]
    assert [le.id for le in drain(anyqueue)] == ids


def test_same_priority_is_fifo(anyqueue):
    ids = [anyqueue.push(t()).id for _ in range(50)]
    assert [le.id for le in drain(anyqueue)] == ids


def test_aging_bounds_the_wait_of_a_low_priority_task(make_queue, config):
    """With a 200 ms aging window, a VERY_LOW task enqueued > 4 windows before
    newer VERY_HIGH tasks is served ahead of them (the window is wide enough that
    the push right after it is well within 4 windows on a loaded machine)."""
    q = make_queue(dataclasses.replace(config, aging_seconds=0.2))
    old = q.push(t(priority=Priority.VERY_LOW)).id
    q.push(t(priority=Priority.VERY_HIGH))  # 4 windows of credit: ahead of `old`
    time.sleep(0.85)  # > 4 x 200 ms: a lower bound, a slow machine only sleeps longer
    newer = [q.push(t(priority=Priority.VERY_HIGH)).id for _ in range(3)]
    order = [le.id for le in drain(q)]
    assert order.index(old) == 1
    assert order[2:] == newer


def test_without_aging_priority_is_strict(make_queue, config):
    q = make_queue(dataclasses.replace(config, aging_seconds=1000))
    low = q.push(t(priority=Priority.VERY_LOW)).id
    time.sleep(0.02)
    highs = [q.push(t(priority=Priority.HIGH)).id for _ in range(3)]
    assert [le.id for le in drain(q)] == [*highs, low]


@pytest.mark.parametrize("bad", [0, 7, -1, "3", 2.5, True, None])
def test_invalid_priority_is_refused_at_push(anyqueue, bad):
    with pytest.raises(InvalidTask, match="priority"):
        anyqueue.push(t(priority=bad))
    assert anyqueue.stats()["enqueued"] == 0


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ([object()], {}, r"argument\['args'\]\[0\] is a object"),
        ([{1: "x"}], {}, "keys must be strings"),
        ([float("nan")], {}, "NaN"),
        ([], {"when": time}, "is a module"),
        ("abc", {}, "args must be a list"),
    ],
)
def test_non_json_arguments_are_refused_with_a_clear_error(anyqueue, args, kwargs, match):
    with pytest.raises(InvalidTask, match=match):
        anyqueue.push(Task("demo.noop", args=args, kwargs=kwargs))
    assert anyqueue.stats()["enqueued"] == 0


def test_oversized_payload_is_refused(make_queue, config):
    q = make_queue(dataclasses.replace(config, max_payload_bytes=1000))
    with pytest.raises(InvalidTask, match="over the 1000-byte limit"):
        q.push(t(args=["x" * 2000]))


@pytest.mark.parametrize("user", ["", "a b", "x" * 129, "*", "ü"])
def test_bad_tenant_names_are_refused(anyqueue, user):
    with pytest.raises(InvalidTask, match="user"):
        anyqueue.push(t(user=user))


def test_big_numbers_keep_their_precision(anyqueue):
    big = [2**63 - 1, 12345678901234567890, 0.1 + 0.2]
    anyqueue.push(t(args=big))
    lease = anyqueue.pop("w1")
    assert lease.task.args == big
    lease.ack({"n": 2**70})
    assert anyqueue.get_task(lease.id).return_value == {"n": 2**70}


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_run_after_defers_until_promoted(anyqueue, raw):
    due = anyqueue.redis_time_ms() + 3_600_000
    task_id = anyqueue.push(t(run_after=due)).id
    assert anyqueue.get_task(task_id).state == State.DEFERRED
    assert anyqueue.pop("w1") is None and anyqueue.promote() == 0
    assert raw.zscore(anyqueue.config.keys.delayed(), task_id) == due
    raw.zadd(anyqueue.config.keys.delayed(), {task_id: anyqueue.redis_time_ms()})  # its time has come
    assert anyqueue.promote() == 1 and anyqueue.promote() == 0
    assert anyqueue.pop("w1").id == task_id


def test_run_after_in_the_past_is_queued_at_once(anyqueue):
    anyqueue.push(t(run_after=1000))
    assert anyqueue.pop("w1") is not None


@pytest.mark.single_redis("counts commands in one server's INFO commandstats")
@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_a_single_push_is_one_round_trip(queue, rclient):
    queue.push(t())  # loads the script
    rclient.config_resetstat()
    for _ in range(5):
        queue.push(t())
    calls = {k: v["calls"] for k, v in rclient.info("commandstats").items()}
    assert calls["cmdstat_fcall"] == 5 and "cmdstat_script|exists" not in calls
