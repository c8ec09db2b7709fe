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
    def __init__(self, primaries: int = 3) -> None:
        options = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")
        self.nodes = [RedisServer(*options, port=cluster_port()) for _ in range(primaries)]

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
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        deadline = time.monotonic() + timeout
        while not all(self._ok(n.port) for n in self.nodes):  # every node agrees the slots are served
            if time.monotonic() > deadline:
                raise RuntimeError("the loopback cluster did not reach cluster_state:ok")
            time.sleep(0.1)
        return self

    @staticmethod
    def _ok(port: int) -> bool:
        info = redis.Redis(port=port, decode_responses=True).execute_command("CLUSTER", "INFO")
        return "cluster_state:ok" in info

    def client(self) -> RedisCluster:
        return RedisCluster(host="127.0.0.1", port=self.nodes[0].port, decode_responses=True)

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()
