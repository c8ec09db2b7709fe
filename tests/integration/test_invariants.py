"""Property test (hypothesis state machine) of the engine's invariants:
nothing lost, nothing delivered without a recorded delivery, counters equal
the states, and a tenant is ready exactly when it has queued work."""

from __future__ import annotations

from collections import Counter

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from queueapp.engine import EngineConfig, FairQueue, RedisOptions, RetryPolicy, State, Task, connect

USERS = st.sampled_from(["u1", "u2", "u3"])
WORKERS = st.sampled_from(["w1", "w2"])
LANE_STATES = {State.QUEUED: "queued", State.DEFERRED: "delayed", State.RUNNING: "running", State.DEAD: "dead"}


class EngineMachine(RuleBasedStateMachine):
    redis_url: str = ""

    def __init__(self):
        super().__init__()
        self.client = connect(RedisOptions(url=self.redis_url))
        prefix = "{fqh:" + str(id(self)) + "}"
        self.config = EngineConfig(prefix=prefix, retry=RetryPolicy(base=0, jitter=0), max_retries=1, max_deliveries=2)
        self.q = FairQueue(self.client, self.config)
        self.k = self.config.keys
        self.alive: dict[str, str] = {}  # task id -> user, for every task not deleted
        self.leases: dict[str, object] = {}  # task id -> current lease
        self.deliveries: Counter = Counter()  # pops we saw since the last reset

    def teardown(self):
        keys = list(self.client.scan_iter(match=self.config.prefix + "*", count=1000))
        if keys:
            self.client.delete(*keys)
        self.client.close()

    tasks = Bundle("tasks")

    @rule(target=tasks, user=USERS, prio=st.integers(1, 6))
    def push(self, user, prio):
        task_id = self.q.push(Task("demo.noop", user=user, priority=prio)).id
        self.alive[task_id] = user
        return task_id

    @rule(worker=WORKERS)
    def pop(self, worker):
        lease = self.q.pop(worker)
        if lease is not None:
            assert lease.id not in self.leases, "a task was handed out twice at once"
            self.leases[lease.id] = lease
            self.deliveries[lease.id] += 1
            assert lease.task.deliveries == self.deliveries[lease.id]

    def _take(self, data):
        task_id = data.draw(st.sampled_from(sorted(self.leases)))
        return self.leases.pop(task_id)

    @precondition(lambda self: self.leases)
    @rule(data=st.data())
    def ack(self, data):
        self._take(data).ack(1)

    @precondition(lambda self: self.leases)
    @rule(data=st.data(), retry=st.booleans())
    def fail(self, data, retry):
        self._take(data).fail(ValueError("x"), retry=retry)

    @precondition(lambda self: self.leases)
    @rule(data=st.data())
    def release(self, data):
        lease = self._take(data)
        lease.release()
        self.deliveries[lease.id] -= 1

    @precondition(lambda self: self.leases)
    @rule(data=st.data())
    def expire_and_reap(self, data):
        """The worker died: its lease is past its deadline and the reaper runs."""
        lease = self._take(data)
        self.client.zadd(self.k.running(), {lease.id: 0})
        self.q.reap()

    @rule()
    def promote(self):
        self.q.promote()

    @rule(task_id=tasks)
    def cancel(self, task_id):
        task = self.q.get_task(task_id)
        if task and task.state in (State.QUEUED, State.DEFERRED):
            self.q.cancel(task_id)

    @rule(task_id=tasks)
    def requeue(self, task_id):
        if self.q.dlq_requeue([task_id])[0]:
            self.deliveries[task_id] = 0

    @rule(task_id=tasks)
    def delete(self, task_id):
        if self.q.dlq_delete([task_id])[0]:
            self.alive.pop(task_id)

    @invariant()
    def nothing_lost_and_counters_equal_states(self):
        seen = Counter()
        per_user = {u: Counter() for u in ("u1", "u2", "u3")}
        for task_id, user in self.alive.items():
            task = self.q.get_task(task_id)
            assert task is not None, f"task {task_id} lost"
            assert self._where(task) == {task.state}, (task.state, self._where(task))
            if task.state in LANE_STATES:
                seen[LANE_STATES[task.state]] += 1
                per_user[user][LANE_STATES[task.state]] += 1
            if task.state == State.RUNNING:
                assert task.id in self.leases
        stats = self.q.stats()
        for gauge in LANE_STATES.values():
            assert stats[gauge] == seen[gauge], (gauge, stats[gauge], seen[gauge])
            for user, counts in per_user.items():
                assert self.q.tenant_stats(user)[gauge] == counts[gauge]

    @invariant()
    def ready_exactly_when_queued(self):
        for user in ("u1", "u2", "u3"):
            queued = self.client.llen(self.k.crit(user)) + self.client.zcard(self.k.norm(user))
            ready = self.client.zscore(self.k.ready_all(), user) is not None
            assert ready == (queued > 0), (user, queued)
            backlog = self.client.zscore(self.k.backlog(), user)
            assert int(backlog or 0) == queued

    def _where(self, task) -> set:
        k, places = self.k, set()
        if (
            task.id in self.client.lrange(k.crit(task.user), 0, -1)
            or self.client.zscore(k.norm(task.user), task.id) is not None
        ):
            places.add(State.QUEUED)
        if self.client.zscore(k.delayed(), task.id) is not None:
            places.add(State.DEFERRED)
        if self.client.zscore(k.running(), task.id) is not None:
            places.add(State.RUNNING)
        if self.client.zscore(k.dlq(), task.id) is not None:
            assert self.client.zscore(k.dlq_user(task.user), task.id) is not None
            places.add(State.DEAD)
        return places or {task.state} & {State.SUCCEEDED, State.CANCELLED, State.FAILED}


def test_engine_invariants(redis_url):
    EngineMachine.redis_url = redis_url
    machine = EngineMachine.TestCase
    machine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
    machine().runTest()
