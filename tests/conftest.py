"""Shared fixtures: one private redis-server for the session (or
FAIRQUEUE_TEST_REDIS_URL), and a fresh key prefix per test so tests never see
each other's keys. Missing Redis fails the run loudly: there are no fakes."""

from __future__ import annotations

import asyncio
import inspect
import os
import secrets
import subprocess

import pytest
import redis
from redis.cluster import RedisCluster

from queueapp.engine import (
    AsyncFairQueue,
    EngineConfig,
    FairQueue,
    Lease,
    RedisOptions,
    connect,
    connect_async,
)
from queueapp.engine.shards import ShardedQueue, threaded
from tests.processes import start_command, worker_env
from tests.redis_cluster import LoopbackCluster
from tests.redis_server import RedisServer

# FAIRQUEUE_TEST_TOPOLOGY=cluster3 (make test-cluster): the same tests against a loopback Redis Cluster
# of 3 primaries, every `queue` a ShardedQueue of 3 shards; a test marked one_shard reads a queue's keys
# by name, so its queue is one plain FairQueue on the cluster (one shard of it)
TOPOLOGY = os.environ.get("FAIRQUEUE_TEST_TOPOLOGY", "")
SHARDED = TOPOLOGY == "cluster3"


_topology_counts: dict[str, int] = {}


def pytest_terminal_summary(terminalreporter):
    if SHARDED and _topology_counts:
        c = _topology_counts
        terminalreporter.write_line(
            f"cluster3: {c['sharded']} tests on a ShardedQueue of 3 shards, {c['one_shard']} on one shard of the "
            f"cluster (one_shard), {c['single_redis']} skipped (single_redis)"
        )


def pytest_collection_modifyitems(config, items):
    """Browser tests last: they hold an event loop in the main thread while they run. On the
    cluster, the tests that count one server's commands or change that server are skipped."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
    if SHARDED:
        _topology_counts.update(sharded=0, one_shard=0, single_redis=0)
        for item in items:
            single = item.get_closest_marker("single_redis")
            if single is not None:
                item.add_marker(pytest.mark.skip(reason=f"one Redis only: {single.args[0] if single.args else ''}"))
                _topology_counts["single_redis"] += 1
            elif item.get_closest_marker("one_shard") is not None:
                _topology_counts["one_shard"] += 1
            else:
                _topology_counts["sharded"] += 1


def pytest_configure(config):
    if TOPOLOGY not in ("", "cluster3"):
        raise pytest.UsageError(f"FAIRQUEUE_TEST_TOPOLOGY must be empty or cluster3, got {TOPOLOGY!r}")


def engine_queue(request, client, cfg: EngineConfig):
    """What a test's `queue` is in this run's topology."""
    if SHARDED and request.node.get_closest_marker("one_shard") is None:
        return ShardedQueue.over(client, cfg, 3)
    return FairQueue(client, cfg)


@pytest.fixture(scope="session")
def redis_url():
    if SHARDED:
        cluster = LoopbackCluster(3).start()
        yield f"redis://127.0.0.1:{cluster.nodes[0].port}/0"
        cluster.cleanup()
        return
    url = os.environ.get("FAIRQUEUE_TEST_REDIS_URL")
    if url:
        yield url
        return
    server = RedisServer().start()
    os.environ["FAIRQUEUE_TEST_REDIS_PRIVATE_URL"] = server.url
    yield server.url
    server.cleanup()


@pytest.fixture
def prefix():
    return "{fqt:" + secrets.token_hex(4) + "}"


@pytest.fixture
def config(prefix):
    """Fast knobs for tests; tests needing others use dataclasses.replace(config, ...)."""
    return EngineConfig(prefix=prefix, lease_seconds=30, aging_seconds=60)


@pytest.fixture
def rclient(redis_url):
    client = connect(RedisOptions(url=redis_url))
    yield client
    client.close()


@pytest.fixture
def queue(request, rclient, config):
    return engine_queue(request, rclient, config)


@pytest.fixture
def make_queue(request, rclient):
    """Another queue on the same Redis with a custom config."""
    return lambda cfg: engine_queue(request, rclient, cfg)


class AsyncRunner:
    """Runs an AsyncFairQueue from sync tests, so one scenario covers both clients."""

    def __init__(self, redis_url: str, config: EngineConfig, request=None) -> None:
        self.loop = asyncio.new_event_loop()
        if SHARDED:  # as get_async_queue on a cluster: the sync client's calls in a thread
            self.queue = threaded(engine_queue(request, connect(RedisOptions(url=redis_url)), config))
        else:
            self.queue = AsyncFairQueue(connect_async(RedisOptions(url=redis_url)), config)

    def __getattr__(self, name):
        attr = getattr(self.queue, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            result = attr(*args, **kwargs)
            if inspect.isawaitable(result):
                result = self.loop.run_until_complete(result)
            if isinstance(result, Lease):
                result.queue = self  # lease.ack() etc. come back through this runner
            return result

        return call

    def close(self) -> None:
        self.loop.run_until_complete(self.queue.aclose())
        self.loop.close()


@pytest.fixture(params=["sync", "async"])
def anyqueue(request, redis_url, config, rclient):
    """The same scenario through FairQueue and AsyncFairQueue."""
    if request.param == "sync":
        yield engine_queue(request, rclient, config)
        return
    runner = AsyncRunner(redis_url, config, request)
    yield runner
    runner.close()


@pytest.fixture
def raw(redis_url):
    if SHARDED:
        client = RedisCluster.from_url(redis_url, decode_responses=True)
    else:
        client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def fq_settings(request, settings, redis_url, prefix):
    """Point the Django layer (backend, commands) at the test Redis and this test's prefix
    (and its shards, as the test's `queue` has them)."""
    from queueapp import conf

    settings.REDIS_URL = redis_url
    shards = 3 if SHARDED and request.node.get_closest_marker("one_shard") is None else 1
    settings.FAIRQUEUE = {**settings.FAIRQUEUE, "PREFIX": prefix, "SHARDS": shards}
    conf.get_queue.cache_clear()
    yield settings
    conf.get_queue.cache_clear()


@pytest.fixture
def sharded(fq_settings):
    """The Django layer with FAIRQUEUE["SHARDS"] = 3: conf.get_queue() is a ShardedQueue."""
    from queueapp import conf

    fq_settings.FAIRQUEUE = {**fq_settings.FAIRQUEUE, "SHARDS": 3}
    conf.get_queue.cache_clear()
    queue = conf.get_queue()
    assert isinstance(queue, ShardedQueue) and queue.n == 3
    return queue


# -- real worker and scheduler processes ---------------------------------------------------
@pytest.fixture
def env(redis_url, prefix, tmp_path):
    """Worker environment: fast retries and this test's prefix and ledger."""
    return worker_env(
        redis_url,
        prefix,
        ledger=f"ledger:{prefix}",
        FAIRQUEUE_RETRY_BASE=0.1,
        FAIRQUEUE_RETRY_CAP=0.2,
        FQ_EVIL_MARKER=tmp_path / "evil-imported",
    )


@pytest.fixture
def ledger(raw, env):
    key = env["FQ_LEDGER"]

    class Ledger:
        def runs(self, tag):
            return int(raw.hget(f"{key}:runs", tag) or 0)

        def done(self, tag):
            return int(raw.hget(f"{key}:done", tag) or 0)

        def running(self):
            return raw.scard(f"{key}:running")

        def overlaps(self):
            return raw.lrange(f"{key}:overlaps", 0, -1)

        def order(self):
            return raw.lrange(f"{key}:order", 0, -1)

    return Ledger()


def _processes(tmp_path, command: str):
    """Start `manage.py <command>` processes; any left running are killed at teardown."""
    procs: list[subprocess.Popen] = []

    def start(env, *args):
        proc = start_command(env, command, *args, log=tmp_path / f"{command}-{len(procs)}.log")
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.fixture
def workers(tmp_path):
    yield from _processes(tmp_path, "runworker")


@pytest.fixture
def schedulers(tmp_path):
    yield from _processes(tmp_path, "runscheduler")
