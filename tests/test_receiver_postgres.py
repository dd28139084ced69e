"""The same store interface on PostgreSQL (psycopg): intake, idempotency, dispatch, append-only ledger,
and two workers claiming concurrently (FOR UPDATE SKIP LOCKED) without doubling an action.

Uses $SMMC_TEST_POSTGRES_URL if set; otherwise starts a throw-away cluster with the local initdb/pg_ctl
(as the `postgres` user when run as root). Skipped, saying so, when neither is available."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

import pytest

from receiver.testing import ReceiverStack, alert, notification, settle

SPECIALIST = {"severity": "warning", "maintenance": "specialist", "team": "specialist"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def pg_server():
    if os.environ.get("SMMC_TEST_POSTGRES_URL"):
        yield os.environ["SMMC_TEST_POSTGRES_URL"]
        return
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip(
            "no PostgreSQL server: SMMC_TEST_POSTGRES_URL is unset and initdb/pg_ctl are not installed"
        )
    # not under pytest's tmp root: that is private to root, and the server runs as `postgres`
    base = Path(tempfile.mkdtemp(prefix="smmc-pg-"))
    data, port = base / "data", _free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run a throw-away cluster")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    try:
        _start(prefix, initdb, pg_ctl, data, base, port)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"could not start a throw-away PostgreSQL: {exc.stderr!r}") from exc
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _start(prefix, initdb, pg_ctl, data, base, port):
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *prefix,
            pg_ctl,
            "-D",
            str(data),
            "-l",
            str(base / "log"),
            "-w",
            "start",
            "-o",
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=on",
        ],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def pg_url(pg_server):
    import psycopg

    name = "smmc_" + uuid.uuid4().hex[:10]
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield pg_server.rsplit("/", 1)[0] + "/" + name


def test_postgres_store_end_to_end(tmp_path, pg_url):
    import psycopg

    with ReceiverStack(tmp_path, db_url=pg_url) as stack:
        assert stack.store.engine == "postgresql"
        alerts = [alert("MeterFault", meter=f"M{i}", **SPECIALIST) for i in range(3)]
        assert stack.post("smmc-actions", notification("smmc-actions", alerts)).json()["status"] == "accepted"
        assert (
            stack.post("smmc-actions", notification("smmc-actions", alerts, "http://am-1")).json()["status"]
            == "duplicate"
        )
        actions = settle(stack)
        assert [a["status"] for a in actions] == ["succeeded"] * 3 and len(stack.jira_issues()) == 3
        resolved = [dict(a, status="resolved", endsAt="2026-05-04T11:00:00Z") for a in alerts]
        stack.post("smmc-actions", notification("smmc-actions", resolved))
        settle(stack)
        assert all(i["status"] == "Done" for i in stack.jira_issues())
        storm = [alert("MeterCommLost", meter=f"S{i}", **SPECIALIST) for i in range(21)]
        stack.post("smmc-actions", notification("smmc-actions", storm))
        settle(stack)
        assert len(stack.jira_issues()) == 4  # 3 tickets + one storm parent
    with psycopg.connect(pg_url, autocommit=True) as conn, pytest.raises(psycopg.Error, match="append-only"):
        conn.execute("UPDATE ledger SET event = 'x'")


def test_postgres_concurrent_workers_never_double_an_action(tmp_path, pg_url):
    with ReceiverStack(tmp_path, db_url=pg_url) as stack:
        stack.post(
            "smmc-actions",
            notification(
                "smmc-actions",
                [
                    alert(
                        "ConcentratorClockDrift",
                        severity="warning",
                        maintenance="remote",
                        team="metering",
                        command="time_sync",
                        concentrator=f"C{i}",
                    )
                    for i in range(12)
                ],
            ),
        )
        worker = stack.receiver.worker
        threads = [threading.Thread(target=worker.drain) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        actions = settle(stack)
        assert [a["attempts"] for a in actions] == [1] * 12
        assert len(stack.smmeplus_commands()) == 12
