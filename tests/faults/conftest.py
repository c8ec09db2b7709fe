"""Fixtures of the fault tests: worker processes, the external ledger, private Redis servers."""

from __future__ import annotations

import pytest

from queueapp.engine import EngineConfig, FairQueue, RedisOptions, connect
from tests.faults.harness import LEASE, Ledger, Workers, fault_env
from tests.redis_server import RedisServer


@pytest.fixture
def procs(tmp_path):
    """Worker processes; any left running are SIGKILLed at teardown."""
    group = Workers(tmp_path)
    yield group
    group.kill_all()


@pytest.fixture
def ledger_key(prefix):
    return f"ledger:{prefix}"


@pytest.fixture
def book(raw, ledger_key):
    """The external ledger, on the session's Redis (never the one a test kills)."""
    yield Ledger(raw, ledger_key)
    raw.delete(*[f"{ledger_key}:{k}" for k in ("execs", "runs", "finished", "stalled")])


@pytest.fixture
def fenv(redis_url, prefix, ledger_key):
    """Worker environment on the session's Redis with the harness's fast knobs."""
    return fault_env(redis_url, prefix, redis_url, ledger_key)


@pytest.fixture
def fqueue(rclient, prefix):
    """A client with the workers' configuration (lease 2 s). The configuration counts as synced
    (as after `syncqueue`), so workers do not reconcile it from the (empty) test database."""
    queue = FairQueue(rclient, EngineConfig(prefix=prefix, lease_seconds=LEASE))
    queue.mark_synced()
    return queue


@pytest.fixture
def private_redis():
    """Start private redis-servers (for tests that kill, wipe or starve Redis); cleaned up after."""
    servers: list[RedisServer] = []
    clients = []

    def start(*args: str) -> RedisServer:
        server = RedisServer(*args).start()
        servers.append(server)
        return server

    def queue_on(server: RedisServer, prefix: str, **options) -> FairQueue:
        client = connect(RedisOptions(url=server.url, **options))
        clients.append(client)
        queue = FairQueue(client, EngineConfig(prefix=prefix, lease_seconds=LEASE))
        queue.mark_synced()
        return queue

    start.queue_on = queue_on
    yield start
    for client in clients:
        client.close()
    for server in servers:
        server.cleanup()
