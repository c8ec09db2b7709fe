"""A private Redis Cluster on loopback for the tests (issue 16): N primaries, each a
RedisServer started with --cluster-enabled, joined with `redis-cli --cluster create`,
torn down after. Never touches the machine's own Redis."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time

import redis
from redis.cluster import RedisCluster

from tests.redis_server import RedisServer


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too: a node refuses ports above 55535."""
    for _ in range(200):
        port = random.randint(20000, 45000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for a cluster node")


class LoopbackCluster:
    """`primaries` primaries, each with `replicas` replicas (a killed primary's replica takes
    over after --cluster-node-timeout); nodes[:primaries] are the primaries at the start."""

    def __init__(self, primaries: int = 3, replicas: int = 0, node_timeout_ms: int = 2000) -> None:
        options = (
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(node_timeout_ms),
            # the other shards go on while one primary fails over (docs/operations.md)
            "--cluster-require-full-coverage", "no",
        )  # fmt: skip
        self.replicas = replicas
        self.nodes = [RedisServer(*options, port=cluster_port()) for _ in range(primaries * (1 + replicas))]

    def start(self, timeout: float = 30.0) -> LoopbackCluster:
        try:
            return self._start(timeout)
        except BaseException:
            self.cleanup()  # no node left running when the cluster could not be made
            raise

    def _start(self, timeout: float) -> LoopbackCluster:
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli was not found (Debian's redis-tools package)")
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        deadline = time.monotonic() + timeout
        while not all(self._ok(n.port) and self._synced(n.port) for n in self.nodes):  # slots served, replicas in sync
            if time.monotonic() > deadline:
                raise RuntimeError("the loopback cluster did not reach cluster_state:ok with its replicas in sync")
            time.sleep(0.1)
        return self

    @staticmethod
    def _synced(port: int) -> bool:
        info = redis.Redis(port=port, decode_responses=True).info("replication")
        return info.get("role") == "master" or info.get("master_link_status") == "up"

    @staticmethod
    def _ok(port: int) -> bool:
        info = redis.Redis(port=port, decode_responses=True).execute_command("CLUSTER", "INFO")
        return "cluster_state:ok" in info

    def url(self) -> str:
        """A URL naming one live node (the client reads the whole cluster from it)."""
        node = next(n for n in self.nodes if n.proc is not None)
        return f"redis://127.0.0.1:{node.port}/0"

    def primary_for(self, key: str) -> RedisServer:
        """The node serving `key`'s slot now, as a live node sees it."""
        live = next(n for n in self.nodes if n.proc is not None)
        client = redis.Redis(port=live.port, decode_responses=True)
        slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
        for start, end, primary, *_ in client.execute_command("CLUSTER", "SLOTS"):
            if int(start) <= slot <= int(end):
                return next(n for n in self.nodes if n.port == int(primary[1]))
        raise LookupError(f"no node serves slot {slot}")

    def wait_replicated(self, timeout: float = 30.0) -> None:
        """Until every live replica has every write its primary made so far."""
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            if node.proc is None:
                continue
            info = redis.Redis(port=node.port, decode_responses=True).info("replication")
            if info.get("role") != "master":
                continue
            offset = int(info["master_repl_offset"])
            while True:
                info = redis.Redis(port=node.port, decode_responses=True).info("replication")
                seen = [int(v["offset"]) for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
                if seen and min(seen) >= offset:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"replicas of {node.port} did not reach offset {offset}")
                time.sleep(0.05)

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every live node says cluster_state:ok (after a failover, say)."""
        deadline = time.monotonic() + timeout
        while not all(self._ok(n.port) for n in self.nodes if n.proc is not None):
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster did not return to cluster_state:ok")
            time.sleep(0.1)

    def client(self) -> RedisCluster:
        """The engine's own cluster client (connect() on a node's URL)."""
        from queueapp.engine.connection import RedisOptions, connect

        return connect(RedisOptions(url=self.url()))

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()
