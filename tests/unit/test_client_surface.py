"""The two clients are one surface: every operation is declared once (operations.py) and
each client only runs plans. Adding an operation must not touch client.py or aio.py."""

from __future__ import annotations

import inspect

from queueapp.engine import AsyncFairQueue, FairQueue
from queueapp.engine.operations import Operations
from queueapp.engine.shards import ShardedQueue

LOCAL = {"new_ids"}  # computed in the process, no I/O: the same value from both clients
CONSTRUCTION = {"from_url", "dedicated", "aclose", "sibling", "close"}  # how a client is made or closed, not operations


def public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, callable)
        if not name.startswith("_") and name not in CONSTRUCTION
    }


def test_both_clients_expose_the_same_operations_with_the_same_signatures():
    sync_ops, async_ops = public(FairQueue), public(AsyncFairQueue)
    assert sync_ops == async_ops
    assert len(sync_ops) >= 45  # the whole surface, not an empty match


def test_every_operation_is_declared_once_in_operations_py():
    declared = public(Operations)
    for client in (FairQueue, AsyncFairQueue):
        own = {n for n in vars(client) if not n.startswith("_")} - CONSTRUCTION
        assert own == set(), f"{client.__name__} declares operations itself: {sorted(own)}"
        assert public(client) == declared


def test_defaults_live_in_the_surface_only():
    """Core and reads take every argument explicitly; the defaults callers see are here."""
    from queueapp.engine.core import Core
    from queueapp.engine.reads import Reads

    for cls in (Core, Reads):
        for name, member in inspect.getmembers(cls, inspect.isfunction):
            if name.startswith("_") or name.endswith("_call"):
                continue
            defaults = [p for p in inspect.signature(member).parameters.values() if p.default is not p.empty]
            assert defaults == [], f"{cls.__name__}.{name} has defaults {defaults}: declare them in operations.py"


def test_the_async_client_returns_awaitables_of_the_same_plans(queue, redis_url, config):
    import asyncio

    from queueapp.engine import RedisOptions, Task, connect_async

    queue.push(Task("queueapp.demo.noop", id="t1", user="u"))

    async def read():
        aqueue = AsyncFairQueue(connect_async(RedisOptions(url=redis_url)), config)
        pending = aqueue.get_task("t1")
        assert inspect.isawaitable(pending)
        task = await pending
        await aqueue.aclose()
        return task

    assert asyncio.run(read()).id == queue.get_task("t1").id == "t1"


def test_every_operation_returns_what_run_returns():
    """An operation that calls self._run(...) without returning it works on FairQueue but drops
    the coroutine on AsyncFairQueue (nothing happens): each must be `return self._run(...)`."""
    import ast
    import textwrap

    for name, fn in inspect.getmembers(Operations, inspect.isfunction):
        if name.startswith("_") or name in LOCAL:
            continue
        body = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0].body
        last = ast.unparse(body[-1])
        runs = any(f"self.{run}(" in last for run in ("_run", "_start", "_sent"))  # _start/_sent: read later
        assert isinstance(body[-1], ast.Return) and runs, f"{name} must return self._run(...)"


def shape(sig: inspect.Signature) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in sig.parameters.values()]


def test_the_sharded_queue_offers_every_operation_with_the_same_parameters():
    """A caller (the dashboard, a worker, a command) cannot tell SHARDS=3 from SHARDS=1."""
    declared = public(Operations)
    sharded = public(ShardedQueue)
    missing = sorted(set(declared) - set(sharded))
    assert missing == [], f"ShardedQueue lacks {missing}"
    differ = [n for n in declared if shape(declared[n]) != shape(sharded[n])[: len(shape(declared[n]))]]
    assert differ == [], f"ShardedQueue's parameters differ for {differ}"
    assert isinstance(inspect.getattr_static(ShardedQueue, "held_due_in"), property)
