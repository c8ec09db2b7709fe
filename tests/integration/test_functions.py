"""Issue 11: the Lua operations run as one Redis Functions library (FUNCTION LOAD once,
FCALL), reloaded when Redis lost it (restart, failover, FUNCTION FLUSH) and replaced
by EVALSHA where Functions cannot run (an ACL that denies them, Redis < 7, or
redis_functions=False). Real Redis, both clients."""

from __future__ import annotations

import dataclasses
import secrets
from urllib.parse import urlsplit, urlunsplit

import pytest

from queueapp.engine import AsyncFairQueue, FairQueue, RedisOptions, Task, connect
from queueapp.engine.scripts import default_scripts
from tests.conftest import AsyncRunner

pytestmark = pytest.mark.single_redis("flushes one server's Functions library or sets its ACL")


def calls(rclient, command):
    return rclient.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0)


def tasks(n):
    return [Task("demo.noop", args=[i], user=f"u{i % 3}") for i in range(n)]


def test_the_library_is_one_load_with_every_operation():
    library = default_scripts().library()
    assert set(library.functions) == set(default_scripts().names())
    assert library.code.startswith(f"#!lua name={library.name}\n")
    assert all(name.startswith(f"fq_{library.name.removeprefix('fairqueue_')}_") for name in library.functions.values())


@pytest.mark.one_shard("reads or plants its queue's keys by name")
@pytest.mark.parametrize("batch", [1, 1200], ids=["one call", "a pipeline"])
def test_a_flushed_library_is_loaded_again_and_nothing_is_lost(anyqueue, rclient, batch):
    anyqueue.push(Task("demo.noop", user="warm"))
    rclient.function_flush()
    loads = calls(rclient, "function|load")
    results = anyqueue.push_many(tasks(batch)) if batch > 1 else [anyqueue.push(Task("demo.noop", user="a"))]
    assert len(results) == batch and all(r.created for r in results)
    assert calls(rclient, "function|load") == loads + 1
    assert anyqueue.stats()["queued"] == batch + 1  # each task once: the failed FCALLs ran nothing
    assert [default_scripts().library().name] == [lib[1] for lib in rclient.function_list()]  # [name, <name>, ...]


def test_redis_functions_off_runs_evalsha_only(rclient, config):
    queue = FairQueue(rclient, dataclasses.replace(config, redis_functions=False))
    before = calls(rclient, "fcall")
    queue.push_many(tasks(5))
    lease = queue.pop("w1")
    assert lease is not None and lease.ack_and_pop() is not None
    assert calls(rclient, "fcall") == before


@pytest.fixture
def no_functions_url(rclient, redis_url):
    """A Redis user whose ACL denies FCALL and FUNCTION (as some managed offerings do)."""
    user, password = f"fq-nofn-{secrets.token_hex(3)}", secrets.token_hex(8)
    rclient.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all", "-fcall", "-function")
    parts = urlsplit(redis_url)
    yield urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}"))
    rclient.execute_command("ACL", "DELUSER", user)


@pytest.mark.one_shard("reads or plants its queue's keys by name")
@pytest.mark.parametrize("client", ["sync", "async"])
def test_an_acl_that_denies_functions_falls_back_to_evalsha(no_functions_url, config, rclient, client, caplog):
    if client == "sync":
        queue = FairQueue(connect(RedisOptions(url=no_functions_url)), config)
    else:
        queue = AsyncRunner(no_functions_url, config)
    try:
        results = queue.push_many(tasks(4))
        lease = queue.pop("w1")
        assert len(results) == 4 and lease is not None
        lease.ack("done")
        assert queue.get_task(lease.id).return_value == "done"
        assert queue.stats()["succeeded"] == 1
        assert any("Redis Functions unavailable" in r.getMessage() for r in caplog.records)
    finally:
        if client == "async":
            queue.close()


@pytest.mark.one_shard("reads or plants its queue's keys by name")
def test_an_async_client_runs_fcall(redis_url, config, rclient):
    runner = AsyncRunner(redis_url, config)
    try:
        assert isinstance(runner.queue, AsyncFairQueue)
        before = calls(rclient, "fcall")
        runner.push_many(tasks(3))
        assert runner.pop("w1") is not None
        assert calls(rclient, "fcall") >= before + 2
    finally:
        runner.close()
