"""The same store interface on PostgreSQL (psycopg): intake, idempotency, dispatch, append-only ledger,
and two workers claiming concurrently (FOR UPDATE SKIP LOCKED) without doubling an action.

Uses $SMMC_TEST_POSTGRES_URL if set; otherwise starts a throw-away server with Debian's binaries
(tests/pg_server.py). Fails, saying so, when neither is available: CI installs `postgresql`."""

from __future__ import annotations

import threading

import pytest
from pg_server import pg_database_fixture, pg_server_fixture

from tests.receiver_stack import ReceiverStack, alert, notification, settle

SPECIALIST = {"severity": "warning", "maintenance": "specialist", "team": "specialist"}


pg_server = pg_server_fixture()
pg_url = pg_database_fixture()


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
