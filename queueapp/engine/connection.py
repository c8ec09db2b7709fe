"""The one place that builds Redis clients (sync and asyncio) for the queue.

TLS (rediss:// plus CA, client certificate and key), ACL username/password,
explicit socket timeouts, and redis-py's own Retry with exponential backoff
and jitter plus health_check_interval for reconnects. No home-made breaker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError
from redis.retry import Retry

RETRY_ON = (ConnectionError, TimeoutError, BusyLoadingError)


@dataclass(frozen=True, slots=True)
class RedisOptions:
    url: str = "redis://127.0.0.1:6379/0"
    username: str | None = None  # overrides the URL's user (ACL)
    password: str | None = None  # overrides the URL's password
    ssl_ca_certs: str | None = None  # CA bundle that signed the server certificate
    ssl_certfile: str | None = None  # client certificate (mutual TLS)
    ssl_keyfile: str | None = None  # client private key (mutual TLS)
    ssl_cert_reqs: str = "required"  # 'required' | 'optional' | 'none'
    ssl_check_hostname: bool = True
    socket_timeout: float = 5.0
    socket_connect_timeout: float = 5.0
    health_check_interval: int = 25
    retries: int = 5  # per command; workers loop on top of this
    backoff_base: float = 0.05
    backoff_cap: float = 2.0
    max_connections: int | None = None
    cluster: bool | None = None  # a Redis Cluster (redis-py RedisCluster); None: ask the server (INFO cluster)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> RedisOptions:
        names = set(cls.__dataclass_fields__)
        return cls(**{k.lower(): v for k, v in values.items() if k.lower() in names})

    @property
    def is_tls(self) -> bool:
        return urlsplit(self.url).scheme == "rediss"

    def client_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "decode_responses": True,
            # a byte that is not UTF-8 (planted by hand, a partial restore) reads as U+FFFD instead of
            # failing every read of its record: the record is still shown, and dead-lettered by pop
            "encoding_errors": "replace",
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.socket_connect_timeout,
            "socket_keepalive": True,
            "health_check_interval": self.health_check_interval,
            "retry": Retry(
                ExponentialWithJitterBackoff(base=self.backoff_base, cap=self.backoff_cap),
                self.retries,
                supported_errors=RETRY_ON,
            ),
        }
        if self.username is not None:
            kw["username"] = self.username
        if self.password is not None:
            kw["password"] = self.password
        if self.max_connections:
            kw["max_connections"] = self.max_connections
        if self.is_tls:
            kw.update(ssl_cert_reqs=self.ssl_cert_reqs, ssl_check_hostname=self.ssl_check_hostname)
            for name in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
                if getattr(self, name):
                    kw[name] = getattr(self, name)
        kw.update(self.extra)
        return kw


def _pool_kwargs(options: RedisOptions, parse: Callable[[str], Mapping[str, Any]]) -> dict[str, Any]:
    """URL parts, then the explicit options on top (redis-py's from_url lets the URL win)."""
    kw = {**parse(options.url), **options.client_kwargs()}
    if "path" in kw:  # unix socket: no TCP options
        kw.pop("socket_keepalive", None)
    return kw


def connect(options: RedisOptions) -> redis.Redis:
    """A client for options.url: a RedisCluster when the server says it is a cluster node
    (or options.cluster is True), else one pool to that one server."""
    from redis.connection import parse_url

    kw = _pool_kwargs(options, parse_url)
    if options.cluster or (options.cluster is None and _is_cluster_node(kw)):
        return connect_cluster(options)  # type: ignore[no-any-return]  # RedisCluster: the same commands
    return redis.Redis(connection_pool=redis.ConnectionPool(**kw))


def _is_cluster_node(kw: dict[str, Any]) -> bool:
    """One INFO at start-up, not retried: a server that cannot answer now is taken as a single
    one (its first real command then reports the outage, as without this probe; set
    REDIS["CLUSTER"] to True or False to skip it)."""
    probe = redis.Redis(connection_pool=redis.ConnectionPool(**{**kw, "retry": Retry(NoBackoff(), 0)}))
    try:
        return str(probe.info("cluster").get("cluster_enabled", 0)) == "1"
    except redis.RedisError:
        return False
    finally:
        probe.connection_pool.disconnect()


def connect_cluster(options: RedisOptions) -> Any:
    """redis-py's RedisCluster from one node's URL: it reads the slot map and follows MOVED
    and failovers itself; the same TLS, ACL, timeouts and Retry as a single server."""
    kw = options.client_kwargs()
    kw.pop("health_check_interval", None)
    retry = kw.pop("retry")
    return _cluster_class().from_url(options.url, retry=retry, **kw)


def _as_evalsha(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """FCALL name numkeys key... has EVALSHA's shape: its slot comes from its own keys."""
    return ("EVALSHA", *args[1:]) if str(args[0]).upper() in ("FCALL", "FCALL_RO") else args


@cache
def _cluster_class() -> Any:
    """RedisCluster, finding an FCALL's slot from its keys as it does for EVALSHA. redis-py asks
    a node (COMMAND GETKEYS) for every other command it has no key table for, FCALL among them:
    one more round trip per call, all on one node (5,352 of them for 6,000 tasks in
    tests/perf/bench_shards.py, the busiest primary's CPU 27 % over the others')."""
    from redis.cluster import RedisCluster

    class FunctionsCluster(RedisCluster):
        def determine_slot(self, *args: Any) -> Any:
            return super().determine_slot(*_as_evalsha(args))

        def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> Any:
            pipe = super().pipeline(transaction, shard_hint)  # type: ignore[no-untyped-call]
            plain = pipe.determine_slot
            pipe.determine_slot = lambda *args: plain(*_as_evalsha(args))
            return pipe

    return FunctionsCluster


def is_cluster(client: Any) -> bool:
    from redis.cluster import RedisCluster

    return isinstance(client, RedisCluster)


def connect_async(options: RedisOptions) -> redis.asyncio.Redis:
    from redis.asyncio.connection import parse_url
    from redis.asyncio.retry import Retry as AsyncRetry

    kw = _pool_kwargs(options, parse_url)
    kw["retry"] = AsyncRetry(
        ExponentialWithJitterBackoff(base=options.backoff_base, cap=options.backoff_cap),
        options.retries,
        supported_errors=RETRY_ON,
    )
    # blocking: a burst of coroutines (200 tasks of one worker's event loop, an async view
    # under load) waits for a free connection instead of failing with "Too many connections"
    kw.setdefault("max_connections", 100)
    return redis.asyncio.Redis(connection_pool=redis.asyncio.BlockingConnectionPool(timeout=20, **kw))
