"""Property test: broken records and lane entries planted among good tasks.

Hypothesis interleaves plants (records missing a field or their state, payloads
Lua or Python cannot decode, oversized payloads, lane entries whose record is
gone, good tasks whose lane entry was written without any counter, lane entries
with neither record nor counter) with push, pop, ack, fail, release, reap,
promote and purge. Then the operator repairs (syncqueue) and the queue is
drained. Afterwards every good task has run or is where its own history put it,
every broken one is in the DLQ with the reason it deserves, and the counters
equal the lanes."""

from __future__ import annotations

import contextlib
import secrets
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from queueapp.engine import EngineConfig, FairQueue, RedisOptions, RetryPolicy, StaleLease, State, Task, connect
from queueapp.engine.lease import Repair
from queueapp.engine.settings import TenantSettings

USERS = ["u1", "u2", "u3"]
MAX_PAYLOAD = 300
# kind -> the dead_reason it must end with (purge buries a still-usable record as 'purged')
BROKEN = {
    "no_func": "malformed",
    "no_payload": "malformed",
    "no_user": "malformed",
    "bad_priority": "malformed",
    "no_state": "malformed",
    "bad_json": "decode_error",
    "python_undecodable": "decode_error",
    "oversized": "oversized",
    "no_record": "missing",
    "ghost": "missing",  # a lane entry with neither a record nor any counter
}
MUTATIONS = {
    "no_func": lambda r, k: r.hdel(k, "func"),
    "no_payload": lambda r, k: r.hdel(k, "payload"),
    "no_user": lambda r, k: r.hdel(k, "user"),
    "bad_priority": lambda r, k: r.hset(k, "priority", "urgent"),
    "no_state": lambda r, k: r.hdel(k, "state"),
    "bad_json": lambda r, k: r.hset(k, "payload", '{"args": [1,'),
    "python_undecodable": lambda r, k: r.hset(k, "payload", "[1, 2]"),
    "oversized": lambda r, k: r.hset(k, "payload", '{"args": ["' + "x" * MAX_PAYLOAD + '"]}'),
    "no_record": lambda r, k: r.delete(k),
}

users = st.sampled_from(USERS)
prios = st.integers(1, 6)
OPS = st.one_of(
    st.tuples(st.just("push"), users, prios),
    st.tuples(st.just("plant"), st.sampled_from(sorted(BROKEN)), users, prios),
    st.tuples(st.just("uncounted"), users, prios),  # a good task whose lane entry has no counters
    st.tuples(st.just("pop"), st.sampled_from(["w1", "w2"])),
    st.tuples(st.just("ack"), st.integers(0, 50)),
    st.tuples(st.just("fail"), st.integers(0, 50), st.booleans()),
    st.tuples(st.just("release"), st.integers(0, 50)),
    st.tuples(st.just("expire"), st.integers(0, 50)),  # the worker died: lease past its deadline, reaped
    st.just(("promote",)),
    st.tuples(st.just("purge"), users),
)


class Run:
    def __init__(self, client):
        self.raw = client
        prefix = "{fqr:" + secrets.token_hex(4) + "}"
        self.config = EngineConfig(
            prefix=prefix,
            retry=RetryPolicy(base=0, jitter=0),
            max_retries=1,
            max_deliveries=2,
            max_payload_bytes=MAX_PAYLOAD,
        )
        self.q = FairQueue(client, self.config)
        self.k = self.config.keys
        self.good: dict[str, tuple[State, str | None]] = {}  # id -> expected end (state, dead_reason)
        self.broken: dict[str, str] = {}  # id -> kind
        self.owner: dict[str, str] = {}  # id -> the tenant whose lane it was put in
        self.leases: list = []
        for user in USERS:  # registered tenants: the repair walks every tenant seen or registered
            self.q.set_tenant(TenantSettings(user))

    def cleanup(self):
        keys = list(self.raw.scan_iter(match=self.config.prefix + "*", count=1000))
        if keys:
            self.raw.delete(*keys)

    # -- operations -----------------------------------------------------------------------
    def push(self, user, prio):
        task_id = self.q.push(Task("demo.noop", user=user, priority=prio)).id
        self.good[task_id] = (State.SUCCEEDED, None)
        self.owner[task_id] = user

    def plant(self, kind, user, prio):
        if kind == "ghost":
            task_id = "ghost-" + secrets.token_hex(4)
            self._lane_write(user, prio, task_id)
        else:
            task_id = self.q.push(Task("demo.noop", user=user, priority=prio)).id
            MUTATIONS[kind](self.raw, self.k.task(task_id))
        self.broken[task_id] = kind
        self.owner[task_id] = user

    def uncounted(self, user, prio):
        """A whole record and its lane entry, written as a partial restore would: no backlog
        counter, no gauge, no ready set."""
        task = Task("demo.noop", user=user, priority=prio)
        doc = task.push_doc(max_payload=MAX_PAYLOAD, result_ttl=3600, max_retries=1, max_deliveries=2)
        now = self.q.redis_time_ms()
        self.raw.hset(self.k.task(task.id), mapping={**doc, "state": "queued", "enqueued_at": now, "score": now})
        self._lane_write(user, prio, task.id, score=now)
        self.good[task.id] = (State.SUCCEEDED, None)
        self.owner[task.id] = user

    def _lane_write(self, user, prio, task_id, score=0):
        if prio == 6:
            self.raw.rpush(self.k.crit(user), task_id)
        else:
            self.raw.zadd(self.k.norm(user), {task_id: score})

    def pop(self, worker):
        lease = self.q.pop(worker)
        if lease is not None:
            assert lease.id in self.good, f"broken record {lease.id} ({self.broken.get(lease.id)}) was handed out"
            self.leases.append(lease)

    def _take(self, i):
        return self.leases.pop(i % len(self.leases)) if self.leases else None

    def ack(self, i):
        if lease := self._take(i):
            lease.ack(None)

    def fail(self, i, retry):
        if lease := self._take(i):
            outcome = lease.fail(ValueError("x"), retry=retry)
            if outcome.outcome == "dead":
                self.good[lease.id] = (State.DEAD, outcome.reason)

    def release(self, i):
        if lease := self._take(i):
            lease.release()

    def expire(self, i):
        if lease := self._take(i):
            self.raw.zadd(self.k.running(), {lease.id: 0})
            self.q.reap()
            task = self.q.get_task(lease.id)
            if task.state == State.DEAD:
                self.good[lease.id] = (State.DEAD, "lease_expired")

    def promote(self):
        self.q.promote()

    def purge(self, user):
        before = {i: self.q.get_task(i) for i in self.good}
        self.q.purge(user)
        for task_id, task in before.items():
            if task and task.user == user and task.state in (State.QUEUED, State.DEFERRED):
                assert self.q.get_task(task_id).dead_reason == "purged"
                self.good[task_id] = (State.DEAD, "purged")

    # -- the end ------------------------------------------------------------------------
    def drain(self):
        for lease in self.leases:  # the workers holding leases finish them
            with contextlib.suppress(StaleLease):
                lease.ack(None)
        self.leases = []
        self.q.repair_ready()  # the operator runs `manage.py syncqueue`
        for _ in range(10_000):
            self.q.promote()
            lease = self.q.pop("w1")
            if lease is None:
                if not self.raw.zcard(self.k.delayed()):
                    return
                continue
            assert lease.id in self.good, f"broken record {lease.id} was handed out"
            lease.ack(None)
        raise AssertionError("the queue never drained")

    def check(self):
        for task_id, (state, reason) in self.good.items():
            task = self.q.get_task(task_id)
            assert task is not None, f"good task {task_id} lost"
            assert (task.state, task.dead_reason) == (state, reason), task_id
        for task_id, kind in self.broken.items():
            record = self.raw.hgetall(self.k.task(task_id))
            assert record.get("state") == "dead", (kind, record)
            assert record.get("dead_reason") in (BROKEN[kind], "purged"), (kind, record.get("dead_reason"))
            assert self.raw.zscore(self.k.dlq(), task_id) is not None, kind
        dead = [i for i, (s, _) in self.good.items() if s == State.DEAD] + list(self.broken)
        assert self.raw.zcard(self.k.dlq()) == len(dead)
        per_user = Counter(self.owner[i] for i in dead)
        stats = self.q.stats()
        assert (stats["queued"], stats["delayed"], stats["running"], stats["dead"]) == (0, 0, 0, len(dead))
        for user in USERS:
            lanes = self.raw.llen(self.k.crit(user)) + self.raw.zcard(self.k.norm(user))
            assert lanes == 0, user
            assert self.raw.zscore(self.k.backlog(), user) is None, user  # the counter equals the lanes
            assert self.raw.zscore(self.k.ready_all(), user) is None, user
            assert self.q.tenant_stats(user)["queued"] == 0, user
            assert self.raw.zcard(self.k.dlq_user(user)) == per_user[user], user
        assert self.q.repair_ready(dry_run=True) == Repair(0, 0, 0, 0)  # nothing left to repair


def test_broken_records_and_lane_entries_never_strand_or_lose_work(redis_url):
    redis_client = connect(RedisOptions(url=redis_url))

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ops=st.lists(OPS, min_size=10, max_size=60))
    def run(ops):
        r = Run(redis_client)
        try:
            for name, *args in ops:
                getattr(r, name)(*args)
            r.drain()
            r.check()
        finally:
            r.cleanup()

    try:
        run()
    finally:
        redis_client.close()
