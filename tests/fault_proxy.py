"""A loopback TCP fault proxy for network fault tests (no toxiproxy here).

It listens on 127.0.0.1 only, forwards to one upstream on 127.0.0.1 and runs
its asyncio loop in a background thread, so sync tests switch modes with
plain method calls while clients (workers, producers) keep their sockets:

- pass: forward both ways.
- blackhole: accept connections but forward nothing either way (data is
  dropped, as a partition drops packets; redis-py then times out and
  reconnects, which this proxy also accepts and starves).
- latency: each chunk waits delay +/- jitter (uniform) before it is written,
  in both directions; order within a direction is kept.
- reset_after_request: the next `times` client chunks that contain `match`
  reach the server; when the server's reply comes back it is dropped and the
  client connection is reset (RST), so the client never sees the reply of a
  request that did execute.

Usage: `with FaultProxy(redis_port) as proxy: ... REDIS_URL=proxy.url ...`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
import time

LOOPBACK = "127.0.0.1"


class _Conn:
    def __init__(self) -> None:
        self.reset_pending = False
        self.closed = False
        self.client_writer: asyncio.StreamWriter | None = None
        self.server_writer: asyncio.StreamWriter | None = None


class FaultProxy:
    def __init__(self, upstream_port: int, upstream_host: str = LOOPBACK, seed: int = 1) -> None:
        if upstream_host not in (LOOPBACK, "localhost"):
            raise ValueError("the fault proxy only forwards to loopback")
        self.upstream = (upstream_host, upstream_port)
        self.mode = "pass"
        self.delay = 0.0
        self.jitter = 0.0
        self.match = b""
        self.resets_left = 0
        self.resets = 0  # client connections reset by reset_after_request
        self.accepted = 0
        self.dropped_chunks = 0
        self.rng = random.Random(seed)
        self.port = 0
        self._conns: set[_Conn] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> FaultProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = future.result(10)
        return self

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._handle, LOOPBACK, 0)
        return self._server.sockets[0].getsockname()[1]

    def close(self) -> None:
        async def shutdown():
            if self._server:
                self._server.close()
            for conn in list(self._conns):
                self._abort(conn)
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in others:
                t.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def url(self, db: int = 0) -> str:
        return f"redis://{LOOPBACK}:{self.port}/{db}"

    # -- modes (callable from any thread) ------------------------------------------
    def pass_through(self) -> None:
        self.mode = "pass"

    def blackhole(self) -> None:
        self.mode = "blackhole"

    def latency(self, delay: float, jitter: float = 0.0) -> None:
        self.delay, self.jitter = delay, jitter
        self.mode = "latency"

    def reset_after_request(self, match: bytes, times: int = 1) -> None:
        self.match, self.resets_left = match, times
        self.mode = "reset_after_request"

    def drop_connections(self) -> None:
        """Abort every open connection (both sides), e.g. to start a test from fresh sockets."""

        async def drop():
            for conn in list(self._conns):
                self._abort(conn)

        asyncio.run_coroutine_threadsafe(drop(), self._loop).result(5)

    # -- forwarding ----------------------------------------------------------------
    def _due(self) -> float:
        if self.mode != "latency":
            return 0.0
        return time.monotonic() + max(0.0, self.delay + self.rng.uniform(-self.jitter, self.jitter))

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        conn = _Conn()
        conn.client_writer = client_writer
        self._conns.add(conn)
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            self._abort(conn)
            self._conns.discard(conn)
            return
        conn.server_writer = server_writer
        up: asyncio.Queue = asyncio.Queue()
        down: asyncio.Queue = asyncio.Queue()
        tasks = [
            asyncio.ensure_future(self._read(conn, client_reader, up, upstream=True)),
            asyncio.ensure_future(self._write(conn, up, server_writer)),
            asyncio.ensure_future(self._read(conn, server_reader, down, upstream=False)),
            asyncio.ensure_future(self._write(conn, down, client_writer)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        self._abort(conn)
        for t in tasks:
            t.cancel()
        self._conns.discard(conn)

    async def _read(self, conn: _Conn, reader: asyncio.StreamReader, out: asyncio.Queue, upstream: bool) -> None:
        while not conn.closed:
            try:
                data = await reader.read(65536)
            except OSError:
                return
            if not data:
                return
            if self.mode == "blackhole":
                self.dropped_chunks += 1
                continue
            if not upstream and conn.reset_pending:  # the reply to the request we let through
                self.resets += 1
                self._reset_client(conn)
                return
            if upstream and self.mode == "reset_after_request" and self.resets_left > 0 and self.match in data:
                self.resets_left -= 1
                conn.reset_pending = True
            await out.put((self._due(), data))

    async def _write(self, conn: _Conn, queue: asyncio.Queue, writer: asyncio.StreamWriter) -> None:
        while not conn.closed:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if self.mode == "blackhole":
                self.dropped_chunks += 1
                continue
            try:
                writer.write(data)
                await writer.drain()
            except OSError:
                return

    def _reset_client(self, conn: _Conn) -> None:
        writer = conn.client_writer
        if writer is not None:
            sock = writer.get_extra_info("socket")
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()  # linger 0: the peer gets RST, not FIN
        self._abort(conn)

    def _abort(self, conn: _Conn) -> None:
        conn.closed = True
        for writer in (conn.client_writer, conn.server_writer):
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.transport.abort()
