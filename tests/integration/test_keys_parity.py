"""The Lua key mirror matches keys.py, every key shares one Cluster slot, and
the sync and async clients leave identical Redis state for one scenario."""

from __future__ import annotations

import asyncio

from queueapp.engine import (
    AsyncFairQueue,
    EngineConfig,
    FairQueue,
    RedisOptions,
    Task,
    connect_async,
)
from queueapp.engine.keys import Keys
from queueapp.engine.scripts import default_scripts
from queueapp.engine.settings import WorkerSettings

SAMPLES = [
    ("task", "t1"),
    ("crit", "user:42"),
    ("norm", "acme"),
    ("ready_all",),
    ("ready_assigned", "w-1"),
    ("ready_steal", "w-1"),
    ("tsets", "acme"),
    ("worker_cfg", "w-1"),
    ("weights",),
    ("paused",),
    ("running",),
    ("delayed",),
    ("dlq",),
    ("dlq_user", "acme"),
    ("backlog",),
    ("tenants",),
    ("stats_user", "acme"),
    ("stats_prio", 3),
    ("stats_func",),
    ("throughput", 29000000),
    ("workers",),
    ("worker_info", "w-1"),
    ("registered",),
    ("configured",),
    ("steal_all",),
    ("synced",),
    ("schedules",),
    ("schedule", "nightly"),
    ("schedule_state", "nightly"),
    ("schedules_version",),
    ("fire", "nightly:2026-10-25T02:30:00"),
    ("scheduler_leader",),
    ("tenants_lex",),
    ("recent", "acme"),
    ("fair_served", 29000000),
    ("fair_wait", 29000000),
    ("deps_waiting", "t1"),
    ("deps_blocked", "t1"),
    ("waiting",),
    ("pipeline", "0190abc"),
    ("pipeline_tasks", "0190abc"),
    ("pipeline_steps", "0190abc"),
    ("pipelines",),
    ("pipelines_ending",),
    ("pipelines_user", "acme"),
    ("xcom", "0190abc", "user:42"),
]


def test_lua_key_builders_match_python(rclient):
    def lua_expr(name, args):  # keys without a part are strings in Lua, the others functions
        if not args:
            return f"K.{name}"
        return f"K.{name}({', '.join(repr(a) if isinstance(a, str) else str(a) for a in args)})"

    lua = (
        default_scripts().expand("lib/keys")
        + "\nlocal out = {}\n"
        + "\n".join(f"out[#out + 1] = {lua_expr(name, args)}" for name, *args in SAMPLES)
        + "\nreturn out"
    )
    prefix = "{fq:mirror}"
    from_lua = rclient.eval(lua, 1, prefix)
    keys = Keys(prefix)
    assert from_lua == [getattr(keys, name)(*args) for name, *args in SAMPLES]


def test_every_key_hashes_to_one_slot(rclient):
    keys = Keys("{fq}")
    slots = (
        {rclient.execute_command("CLUSTER", "KEYSLOT", getattr(keys, name)(*args)) for name, *args in SAMPLES}
        if _has_cluster_keyslot(rclient)
        else {_crc_slot(keys)}
    )
    assert len(slots) == 1


def _has_cluster_keyslot(client) -> bool:
    try:
        client.execute_command("CLUSTER", "KEYSLOT", "x")
        return True
    except Exception:  # standalone servers without cluster support answer an error
        return False


def _crc_slot(keys: Keys) -> int:
    from redis.crc import key_slot

    return {key_slot(getattr(keys, name)(*args).encode()) for name, *args in SAMPLES}.pop()


def scenario_sync(q: FairQueue) -> None:
    q.set_worker_config(WorkerSettings("w1", assigned=["a"], steal=["b"]))
    q.push_many([Task("demo.noop", id=f"t{i}", user="ab"[i % 2], priority=1 + i % 6) for i in range(8)])
    first = q.pop("w1")
    first.ack({"ok": True})
    second = q.pop("w1")
    second.fail(ValueError("x"), retry=False)
    q.dlq_requeue([second.id])
    q.cancel("t7")


async def scenario_async(q: AsyncFairQueue) -> None:
    await q.set_worker_config(WorkerSettings("w1", assigned=["a"], steal=["b"]))
    await q.push_many([Task("demo.noop", id=f"t{i}", user="ab"[i % 2], priority=1 + i % 6) for i in range(8)])
    first = await q.pop("w1")
    await first.ack({"ok": True})
    second = await q.pop("w1")
    await second.fail(ValueError("x"), retry=False)
    await q.dlq_requeue([second.id])
    await q.cancel("t7")
    await q.aclose()


def snapshot(client, prefix: str) -> dict:
    """Key names (prefix stripped), types and members, without timestamps."""
    out = {}
    for key in sorted(client.scan_iter(match=prefix + "*", count=1000)):
        kind = client.type(key)
        name = key[len(prefix) :]
        if name.startswith((":fair:", ":tp:")):  # per-minute, timing-dependent
            continue
        if kind == "hash":
            value = sorted(k for k in client.hgetall(key))
        elif kind == "zset":
            value = client.zrange(key, 0, -1)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(m.replace(prefix, "<p>") for m in client.smembers(key))
        else:
            value = kind
        out[name] = (kind, value)
    return out


def test_sync_and_async_clients_leave_identical_state(redis_url, rclient):
    sync_cfg, async_cfg = EngineConfig(prefix="{par:s}"), EngineConfig(prefix="{par:a}")
    scenario_sync(FairQueue(rclient, sync_cfg))
    asyncio.run(scenario_async(AsyncFairQueue(connect_async(RedisOptions(url=redis_url)), async_cfg)))
    sync_state, async_state = snapshot(rclient, "{par:s}"), snapshot(rclient, "{par:a}")
    assert sync_state and sync_state == async_state
