"""connection.py against real redis-servers: mutual TLS (CA, client cert and key really
reach the socket; throwaway openssl CA per session; the TLS server has no plain port),
ACL users, timeouts/Retry wiring and reconnects."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
import redis
from redis.backoff import ExponentialWithJitterBackoff

import queueapp.engine as fq
from queueapp.engine import RedisOptions, connect, connect_async
from tests.redis_server import RedisServer, free_port


def _tls_skip_reason() -> str | None:
    """None, or why TLS can't be tested. No redis-server at all is not a skip: RedisServer
    fails loudly with its install hint, as in the rest of the suite."""
    binary = shutil.which("redis-server") or "/usr/sbin/redis-server"
    if not shutil.which("openssl"):
        return "openssl is not installed (needed to make throwaway TLS certificates)"
    if not Path(binary).exists():
        return None
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    # A TLS build refuses to start with missing cert files ("Failed to configure TLS").
    args = [
        binary,
        "--port",
        "0",
        "--bind",
        "127.0.0.1",
        "--tls-port",
        str(free_port()),
        "--tls-cert-file",
        "/nonexistent/c",
        "--tls-key-file",
        "/nonexistent/k",
        "--tls-ca-cert-file",
        "/nonexistent/ca",
        "--save",
        "",
        "--logfile",
        "",
    ]
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:  # it ignored the tls-* options and just listened
        out = None
    return None if out and "configure TLS" in out.stdout else f"no TLS in redis-server ({version})"


pytestmark = pytest.mark.skipif(bool(reason := _tls_skip_reason()), reason=reason or "")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def issue(d: Path, name: str, cn: str, ext: str) -> None:
    """An EC key plus a certificate for it signed by ca.crt (EC keys: fast to make)."""
    openssl(
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.csr",
        "-subj",
        f"/CN={cn}",
        cwd=d,
    )
    (d / f"{name}.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n" + ext
    )
    openssl(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        f"{name}.crt",
        "-extfile",
        f"{name}.ext",
        cwd=d,
    )


@pytest.fixture(scope="session")
def certs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("tls")
    openssl(
        "req",
        "-x509",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=FairQueue test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )
    issue(d, "server", "127.0.0.1", "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    issue(d, "client", "queue-worker", "extendedKeyUsage=clientAuth\n")
    return d


class TLSRedisServer(RedisServer):
    """RedisServer listening on a TLS port only; readiness is checked over mutual TLS."""

    def __init__(self, certs: Path) -> None:
        self.certs = certs
        port = free_port()
        super().__init__(
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--tls-cert-file",
            str(certs / "server.crt"),
            "--tls-key-file",
            str(certs / "server.key"),
            "--tls-ca-cert-file",
            str(certs / "ca.crt"),
            "--tls-auth-clients",
            "yes",
            port=port,
        )

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}/0"

    def tls_files(self) -> dict[str, str]:
        names = {"ssl_ca_certs": "ca.crt", "ssl_certfile": "client.crt", "ssl_keyfile": "client.key"}
        return {key: str(self.certs / file) for key, file in names.items()}

    def options(self, **overrides) -> RedisOptions:
        return RedisOptions(**{"url": self.url, **self.tls_files(), **overrides})

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with redis.Redis.from_url(self.url, socket_connect_timeout=0.2, **self.tls_files()) as c:
            while True:
                try:
                    return c.ping() and None
                except (redis.ConnectionError, OSError):  # ssl.SSLError is an OSError
                    if self.proc and self.proc.poll() is not None:
                        raise RuntimeError(f"redis-server exited: see {self.dir}") from None
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)


@pytest.fixture(scope="session")
def tls_server(certs):
    server = TLSRedisServer(certs)
    try:
        yield server.start()
    finally:
        server.cleanup()


@pytest.fixture
def plain_server():
    server = RedisServer()
    try:
        yield server.start()
    finally:
        server.cleanup()


def add_acl_user(server: RedisServer, *rules: str) -> None:
    with redis.Redis(port=server.port) as admin:
        admin.execute_command("ACL", "SETUSER", "queue_worker", "on", ">s3cret", *rules)


def push_and_pop(client: redis.Redis, prefix: str) -> None:
    queue = fq.FairQueue(client, fq.EngineConfig(prefix=prefix))
    pushed = queue.push(fq.Task("demo.noop", user="acme"))
    lease = queue.pop("w1")
    assert lease is not None and lease.id == pushed.id and lease.task.user == "acme"
    lease.ack()


def test_mutual_tls_ping_and_queue(tls_server):
    client = connect(tls_server.options())
    try:
        assert client.ping() is True
        assert client.connection_pool.connection_class is redis.SSLConnection
        push_and_pop(client, "{tls}")
    finally:
        client.close()


def test_mutual_tls_without_client_cert_is_refused(tls_server):
    # Only the client cert/key differ from the passing test. TLS 1.3 reports the server's
    # "certificate required" alert or just an EOF/reset, depending on timing.
    client = connect(tls_server.options(ssl_certfile=None, ssl_keyfile=None, retries=0))
    with pytest.raises((redis.ConnectionError, ssl.SSLError)):
        client.ping()
    client.close()


def test_untrusted_server_certificate_fails_verification(tls_server):
    client = connect(tls_server.options(ssl_ca_certs=None, retries=0))
    with pytest.raises((redis.ConnectionError, ssl.SSLError)) as err:
        client.ping()
    assert "certificate verify failed" in str(err.value).lower()
    client.close()


def test_async_client_over_mutual_tls(tls_server):
    async def scenario():
        client = connect_async(tls_server.options())
        try:
            assert await client.ping() is True
            queue = fq.AsyncFairQueue(client, fq.EngineConfig(prefix="{tlsaio}"))
            pushed = await queue.push(fq.Task("demo.noop", user="acme"))
            lease = await queue.pop("w1")
            assert lease is not None and lease.id == pushed.id
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_acl_user_password_and_url_credentials(plain_server):
    add_acl_user(plain_server, "~{fq*}*", "+@all", "-@dangerous")
    url = plain_server.url
    client = connect(RedisOptions(url=url, username="queue_worker", password="s3cret"))
    assert client.acl_whoami() == "queue_worker"
    push_and_pop(client, "{fqacl}")
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.set("outside:the:acl", 1)  # the key pattern is really enforced
    client.close()

    wrong = connect(RedisOptions(url=url, username="queue_worker", password="nope", retries=0))
    with pytest.raises(redis.AuthenticationError):
        wrong.ping()
    wrong.close()

    in_url = connect(RedisOptions(url=url.replace("redis://", "redis://queue_worker:s3cret@")))
    assert in_url.acl_whoami() == "queue_worker"
    push_and_pop(in_url, "{fqacl}")
    in_url.close()


def test_timeouts_retry_and_decoding_are_configured():
    opts = RedisOptions(
        url="redis://127.0.0.1:1/0",
        socket_timeout=1.5,
        socket_connect_timeout=0.5,
        health_check_interval=11,
        retries=7,
        backoff_base=0.01,
        backoff_cap=0.5,
    )
    kw = connect(opts).get_connection_kwargs()  # nothing connects until a command runs
    assert kw["socket_timeout"] == 1.5 and kw["socket_connect_timeout"] == 0.5
    assert kw["health_check_interval"] == 11 and kw["decode_responses"] is True
    retry = kw["retry"]
    assert retry.get_retries() == 7
    assert isinstance(retry._backoff, ExponentialWithJitterBackoff)
    assert (retry._backoff._base, retry._backoff._cap) == (0.01, 0.5)
    assert {redis.ConnectionError, redis.TimeoutError} <= set(retry._supported_errors)

    aio = connect_async(opts).get_connection_kwargs()
    assert aio["socket_timeout"] == 1.5 and aio["decode_responses"] is True
    assert type(aio["retry"]).__module__ == "redis.asyncio.retry"
    assert aio["retry"].get_retries() == 7


def test_client_reconnects_after_server_restart(plain_server):
    client = connect(RedisOptions(url=plain_server.url))
    try:
        push_and_pop(client, "{fqre}")  # also loads the Lua scripts
        run_id = client.info("server")["run_id"]
        plain_server.restart()  # same port, empty data, scripts flushed
        assert client.ping() is True  # the same client object reconnects
        assert client.info("server")["run_id"] != run_id
        push_and_pop(client, "{fqre}")  # NOSCRIPT is reloaded transparently
    finally:
        client.close()


def test_retry_with_backoff_rides_out_a_short_outage(plain_server):
    patient = connect(RedisOptions(url=plain_server.url, retries=10, backoff_base=0.2))
    impatient = connect(RedisOptions(url=plain_server.url, retries=0))
    assert patient.ping() and impatient.ping()
    plain_server.kill()
    with pytest.raises(redis.ConnectionError):
        impatient.ping()  # no retries: the outage is visible at once
    comeback = threading.Timer(0.4, plain_server.start)
    comeback.start()
    try:
        started = time.monotonic()
        assert patient.ping() is True  # Retry + backoff waited for the server
        assert time.monotonic() - started >= 0.3
    finally:
        comeback.join()
        patient.close()
        impatient.close()


def test_explicit_password_overrides_the_one_in_the_url(plain_server):
    """redis-py's from_url lets the URL win; connection.py puts explicit options on top."""
    add_acl_user(plain_server, "~*", "+@all")
    url = plain_server.url.replace("redis://", "redis://queue_worker:stale@")
    client = connect(RedisOptions(url=url, password="s3cret", retries=0))
    try:
        assert client.ping() is True
    finally:
        client.close()
