"""A private PostgreSQL for the tests where the database matters (transactions,
on-commit sync): its own cluster in a temporary directory, on a free port.

    python -m tests.postgres_server pytest tests/site    # runs the command with DATABASE_URL set
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.redis_server import free_port

INSTALL_HINT = (
    "PostgreSQL's server binaries (initdb, pg_ctl) were not found: `make test` installs Debian's "
    "postgresql package when it can (sudo apt-get install postgresql)."
)


def binaries() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise RuntimeError(INSTALL_HINT)


class PostgresServer:
    def __init__(self) -> None:
        self.bin = binaries()
        self.dir = Path(tempfile.mkdtemp(prefix="fq-pg-"))
        self.port = free_port()
        self.user = "postgres"

    @property
    def url(self) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/fairqueue"

    def _run(self, *args: str) -> None:
        env = {**os.environ, "LC_ALL": "C"}
        subprocess.run(args, check=True, capture_output=True, env=env, **self._as_owner())

    def _as_owner(self) -> dict:
        """PostgreSQL refuses to run as root: use the `postgres` system user when we are root."""
        if os.geteuid() != 0:
            return {}
        import pwd

        owner = pwd.getpwnam("postgres")
        os.chown(self.dir, owner.pw_uid, owner.pw_gid)
        return {"user": owner.pw_uid, "group": owner.pw_gid}

    def start(self) -> PostgresServer:
        data = self.dir / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-U", self.user, "-A", "trust", "--no-sync")
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(self.dir / "log"),
            "-w",
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "fairqueue")
        return self

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    server = PostgresServer().start()
    started = time.monotonic()
    try:
        print(f"private PostgreSQL on port {server.port} (started in {time.monotonic() - started:.1f} s)")
        return subprocess.call(argv, env={**os.environ, "DATABASE_URL": server.url})
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
