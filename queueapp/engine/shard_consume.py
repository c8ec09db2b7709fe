"""A worker's side of a ShardedQueue: pops that go round the shards in turns as long as each
shard's part of the tenants with work, acks to the shard each lease came from, and outages of
one shard that leave the others served (its acks kept and sent when it is back)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from redis import exceptions as rx

from .lease import Ack, Exchange, FailOutcome, Lease
from .settings import WorkerReport
from .shard_reads import OUTAGE

if TYPE_CHECKING:
    from .client import FairQueue

TURN = 8  # a shard's turn, in tasks leased in a row, when every shard has as many tenants with work
WEIGH_SECONDS = 1.0  # how often a worker re-reads each shard's number of tenants with work
DOWN_SECONDS = 1.0  # a shard that could not be reached is left out of pops this long, then tried again
DEFERRED = "deferred"  # an ack status: its shard is unreachable; sent again with the next call there
log = logging.getLogger("fairqueue.worker")


class ShardsUnavailable(rx.ConnectionError):
    """No shard could be reached (a RedisError: callers back off and retry as for one Redis)."""


class ShardConsumer:
    shards: list[FairQueue]
    n: int
    serving: list[int]
    _turn: int
    _streak: int
    _held: list[float | None]
    _down: list[float]
    _owed: list[list[Ack]]
    _tenants_with_work: list[int]
    _weighed: float

    # -- consumer: a worker's pops go round the shards ---------------------------
    def _leased(self, lease: Lease | None, i: int) -> Lease | None:
        if lease is None:
            return None
        lease.queue, lease.shard = self, i
        self._took(i, 1)
        return lease

    def _took(self, i: int, leased: int) -> None:
        """Shard i leased `leased` tasks: it keeps the turn until it has given its turn's length
        in a row (a shard found past empty ones takes the turn)."""
        streak = (self._streak if i == self._turn else 0) + leased
        self._turn, self._streak = (i, streak) if streak < self._turn_length(i) else (self._after(i), 0)

    def _turn_length(self, i: int) -> int:
        """Turns in proportion to the tenants with work in each shard, so a tenant alone on its
        shard does not get a whole shard's share: TURN x (shards with work) x this shard's part
        of their tenants, at least 1. A round of the shards stays TURN x shards tasks long, the
        bound on how long a shard with work waits."""
        if time.monotonic() - self._weighed >= WEIGH_SECONDS:
            self._weigh()
        tenants = self._tenants_with_work
        total = sum(tenants[j] for j in self.serving)
        if not total or not tenants[i]:
            return TURN
        busy = sum(1 for j in self.serving if tenants[j])
        return max(1, round(TURN * busy * tenants[i] / total))

    def _weigh(self) -> None:
        """Each served shard's tenants with queued work (ZCARD backlog); a shard that cannot be
        read keeps its last count."""
        self._weighed = time.monotonic()
        for i in self.serving:
            s = self.shards[i]
            try:
                self._tenants_with_work[i] = int(s.redis.zcard(s.config.keys.backlog()))
            except OUTAGE:
                continue

    def _after(self, i: int) -> int:
        """The served shard after i."""
        return next((j for j in self.serving if j > i), self.serving[0])

    def _rotation(self) -> list[int]:
        """The served shards, starting with the one whose turn it is."""
        at = self.serving.index(self._turn) if self._turn in self.serving else 0
        return self.serving[at:] + self.serving[:at]

    def pop(self, worker: str, lease_seconds: float | None = None, skip: int | None = None) -> Lease | None:
        """From the shard whose turn it is, else the next with work: a busy shard cannot keep a
        worker from a quiet one for more than a round of the shards (TURN x shards tasks)."""
        answered, failure = False, None
        for i in self._rotation():
            if i == skip:
                answered = True
                continue
            if not self._up(i):
                continue
            try:
                lease = self.shards[i].pop(worker, lease_seconds)
            except OUTAGE as exc:
                failure = self._failed(i, exc)
                continue
            answered = True
            self._held[i] = self.shards[i].held_due_in
            if lease is not None:
                return self._leased(lease, i)
        if not answered:
            raise ShardsUnavailable(f"no shard of {self.n} could be reached ({failure or 'every one is down'})")
        return None

    # -- outages: one shard's primary gone must not stop the others -------------------
    def _up(self, i: int) -> bool:
        return time.monotonic() >= self._down[i]

    def _failed(self, i: int, exc: BaseException) -> BaseException:
        if self._up(i):
            log.warning("shard %d (%s) unreachable: %s; serving the other shards", i, self.shards[i].config.prefix, exc)
        self._down[i] = time.monotonic() + DOWN_SECONDS
        return exc

    def _each_until_one[T](self, op: Callable[[FairQueue], T]) -> T:
        """op on the first shard that answers (shard 0 first)."""
        failure: BaseException | None = None
        for i, s in enumerate(self.shards):
            try:
                return op(s)
            except OUTAGE as exc:
                failure = self._failed(i, exc)
        raise ShardsUnavailable(f"no shard of {self.n} could be reached ({failure})")

    def _each[T](self, op: Callable[[FairQueue, int], T]) -> list[tuple[int, T]]:
        """op(shard, its index) on every served shard that answers; ShardsUnavailable when none does."""
        done, failure = [], None
        for i in self.serving:
            s = self.shards[i]
            try:
                done.append((i, op(s, i)))
            except OUTAGE as exc:
                failure = self._failed(i, exc)
        if not done:
            raise ShardsUnavailable(f"no shard of {self.n} could be reached ({failure})")
        return done

    @property
    def held_due_in(self) -> float | None:
        due = [d for d in self._held if d is not None]
        return min(due) if due else None

    def ack(self, lease: Lease, result: Any = None) -> None:
        return self.shards[lease.shard].ack(lease, result)

    def ack_and_pop(self, lease: Lease, result: Any = None, lease_seconds: float | None = None) -> Lease | None:
        """Fused (one round trip) while the lease's shard has the turn; else the ack, then a pop
        from the shard whose turn it is."""
        i = lease.shard
        if i != self._turn:
            self.ack(lease, result)
            return self.pop(lease.worker, lease_seconds)
        nxt = self.shards[i].ack_and_pop(lease, result, lease_seconds)
        self._held[i] = self.shards[i].held_due_in
        if nxt is not None:
            return self._leased(nxt, i)
        return self.pop(lease.worker, lease_seconds, skip=i)

    def send_pop(self, worker: str, lease_seconds: float | None = None) -> Any:
        """None: a pop here takes the turn over the shards (pop), it is not one call to send."""
        return None

    def send_ack_and_pop(self, lease: Lease, result: Any = None, lease_seconds: float | None = None) -> Any:
        return None

    def ack_and_pop_many(
        self,
        acks: Sequence[Ack],
        worker: str,
        n: int,
        lease_seconds: float | None = None,
        coroutines: int | None = None,
    ) -> Exchange:
        """Each shard's acks in one call; the pops fused with the acks of the shard whose turn it
        is, then the next shards for what it could not fill (turns counted in tasks, as pop's)."""
        by_shard: dict[int, list[int]] = {}
        for pos, a in enumerate(acks):
            by_shard.setdefault(a.lease.shard, []).append(pos)
        statuses: list[str] = [""] * len(acks)
        leases: list[Lease] = []
        disabled = False
        want_sync, want_async = n, coroutines or 0
        answered, failure = False, None
        for i in self._rotation() + sorted(set(by_shard) - set(self.serving)):  # acks only, for the latter
            positions = by_shard.pop(i, [])
            owed, sending = self._owed[i], [acks[p] for p in positions]
            asks = (want_sync, want_async) if not disabled and self._up(i) and i in self.serving else (0, 0)
            if not (owed or sending or any(asks)):
                continue
            if not self._up(i):  # down: keep its acks for when it is back
                self._owed[i] = owed + sending
                for p in positions:
                    statuses[p] = DEFERRED
                continue
            try:
                ex = self.shards[i].ack_and_pop_many(
                    owed + sending, worker, asks[0], lease_seconds, asks[1] if coroutines is not None else None
                )
            except OUTAGE as exc:
                failure = self._failed(i, exc)
                self._owed[i] = owed + sending
                for p in positions:
                    statuses[p] = DEFERRED
                continue
            answered = True
            self._owed[i] = []
            for p, status in zip(positions, ex.acked[len(owed) :], strict=True):
                statuses[p] = status
            disabled = disabled or ex.disabled
            self._held[i] = ex.held_due_in if not ex.leases else None
            for lease in ex.leases:
                lease.queue, lease.shard = self, i
                leases.append(lease)
                if lease.task.coroutine and coroutines is not None:
                    want_async -= 1
                else:
                    want_sync -= 1
            if ex.leases:
                self._took(i, len(ex.leases))
        if not answered and not acks:
            raise ShardsUnavailable(f"no shard of {self.n} could be reached ({failure or 'every one is down'})")
        return Exchange(statuses, leases, disabled, None if leases else self.held_due_in)

    def fail(self, lease: Lease, exc: BaseException | None = None, *, retry: bool = True, reason: str = "error",
             message: str | None = None) -> FailOutcome | None:  # fmt: skip
        return self.shards[lease.shard].fail(lease, exc, retry=retry, reason=reason, message=message)

    def release(self, lease: Lease) -> None:
        return self.shards[lease.shard].release(lease)

    def heartbeat(
        self,
        worker: str,
        leases: Iterable[Lease],
        report: WorkerReport | None = None,
        lease_seconds: float | None = None,
    ) -> list[str]:
        """Every shard: its leases renewed and the report stored (each shard's dashboard reads it)."""
        held: list[list[Lease]] = [[] for _ in self.shards]
        for lease in leases:
            held[lease.shard].append(lease)
        renewed = self._each(lambda s, i: s.heartbeat(worker, held[i], report, lease_seconds))
        return [lost for _, ids in renewed for lost in ids]
