"""A throw-away PostgreSQL server for the tests: Debian's `postgresql` binaries (on PATH or under
/usr/lib/postgresql/<version>/bin), a fresh cluster in a temporary directory, a free port on 127.0.0.1,
stopped and removed whatever happens.

    from pg_server import pg_server_fixture, pg_database_fixture
    pg_server = pg_server_fixture()        # module-scoped: the server's URL
    pg_url = pg_database_fixture()         # per test: a fresh database on it

`SMMC_TEST_POSTGRES_URL` points the tests at an existing server instead. Without either, the tests FAIL
(they do not skip): CI installs Debian's `postgresql` package for them.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ENV_URL = "SMMC_TEST_POSTGRES_URL"
INSTALL_HINT = "Debian: apt-get install postgresql (.ci/run installs it)"


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.parent.name))


def find_bindir() -> Path | None:
    """The directory holding initdb and postgres: PATH first, then Debian's versioned directories."""
    on_path = shutil.which("initdb")
    if on_path and Path(on_path).resolve().with_name("postgres").exists():
        return Path(on_path).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "postgres").exists():
            return bindir
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """initdb + postgres in the foreground (a child we own), as the `postgres` user when run as root
    (PostgreSQL refuses to run as root)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="smmc-pg-"))  # not pytest's tmp: private to root
        self.data = self.base / "data"
        self.port = _free_port()
        self.log_path = self.base / "postgres.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._user: dict[str, Any] = {}
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise RuntimeError(
                    "running as root and there is no `postgres` user (Debian's postgresql package creates it)"
                ) from exc
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
            self._user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self, timeout: float = 60.0) -> PostgresServer:
        subprocess.run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            timeout=120,
            **self._user,
        )
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child keeps it; closed below)
        try:
            self.proc = subprocess.Popen(
                [
                    str(self.bindir / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.base),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=on",  # durability is what the receiver's tests are about
                    "-c",
                    "max_connections=200",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **self._user,
            )
        finally:
            log.close()
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with psycopg.connect(self.url, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    tail = self.log_tail()
                    raise RuntimeError(f"postgres not ready after {timeout:.0f}s: {exc}\n{tail}") from exc
            time.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def create_database(self) -> str:
        return _database_url(self.url)

    def stop(self) -> None:
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)  # fast shutdown
                try:
                    self.proc.wait(20)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(10)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError(f"no PostgreSQL server binaries (initdb, postgres): {INSTALL_HINT}")
    server = PostgresServer(bindir)
    try:
        yield server.start()
    finally:
        server.stop()


def _database_url(server_url: str) -> str:
    import psycopg

    name = "smmc_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + "/" + name


def pg_server_fixture(scope: str = "module") -> Callable[..., Any]:
    """A fixture yielding a PostgreSQL server URL: $SMMC_TEST_POSTGRES_URL, else a throw-away server.
    Fails, saying why, when neither is available."""

    @pytest.fixture(scope=scope)
    def pg_server() -> Iterator[str]:
        if os.environ.get(ENV_URL):
            yield os.environ[ENV_URL]
            return
        if find_bindir() is None:
            pytest.fail(f"PostgreSQL tests need a server: set {ENV_URL} or install it ({INSTALL_HINT})")
        with postgres_server() as server:
            yield server.url

    return pg_server


def pg_database_fixture() -> Callable[..., Any]:
    """A fixture yielding the URL of a fresh database on the `pg_server` fixture's server."""

    @pytest.fixture
    def pg_url(pg_server: str) -> str:
        return _database_url(pg_server)

    return pg_url
