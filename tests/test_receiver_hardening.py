"""Receiver hardening (issue 15): credentials and size limits before the body, 400 for bad input, an API
that survives odd stored text, health that tells the truth, approvals by a person's own credential."""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from receiver.auth import CredentialError, load_operator_tokens
from receiver.cli import parse_listen
from receiver.config import load_config
from receiver.health import StoreHealth
from receiver.metrics import ReceiverMetrics
from receiver.store import SQLiteStore, open_store
from receiver.worker import OutboxWorker
from tests.receiver_stack import (
    OPERATOR,
    OPERATOR_TOKEN,
    TEST_ENV,
    TOKEN,
    ReceiverStack,
    alert,
    config_data,
    notification,
)

REPO = Path(__file__).resolve().parents[1]
MARKER = "SECRET-PAYLOAD-MARKER"


@pytest.fixture()
def stack(tmp_path):
    with ReceiverStack(tmp_path) as s:
        yield s


def raw_request(url: str, head: str, body_start: bytes = b"") -> tuple[int, bytes]:
    """Send the request line and headers (and the first bytes of a body that is never completed);
    return the status and body of the answer. An answer proves the server did not wait for the body."""
    host, port = httpx.URL(url).host, httpx.URL(url).port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n" + body_start)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def metric(stack: ReceiverStack, name: str) -> float:
    for line in stack.client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exposed")


# -- credentials and sizes before the body ----------------------------------------------------------------


def test_a_decision_without_a_token_is_refused_before_its_body_is_read(stack):
    # 100 MB announced, 1 kB sent: the 401 comes back without the server waiting for (or parsing) the rest
    head = (
        "POST /api/actions/1/approve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000000\r\n"
    )
    status, body = raw_request(stack.server.url, head, b'{"by":"' + b"A" * 1000)
    assert status == 401 and len(body) < 200 and b"AAAA" not in body


@pytest.mark.parametrize("token", [TOKEN, OPERATOR_TOKEN])
def test_an_announced_body_over_the_limit_is_413_before_it_is_read(stack, token):
    path = "/webhook/smmc-actions" if token == TOKEN else "/api/actions/1/approve"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000000\r\n"
    )
    status, body = raw_request(stack.server.url, head, b"[" * 1000)
    assert status == 413 and b"[[[" not in body


def test_a_chunked_body_over_the_limit_is_413(stack):
    def chunks():
        for _ in range(6):  # 6 MiB, no Content-Length
            yield b" " * (1024 * 1024)

    r = stack.client.post(
        "/webhook/smmc-actions", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    # a chunked body under the limit still arrives whole
    good = json.dumps(notification("smmc-actions", [alert("Chunked", meter="M1")])).encode()
    r = stack.client.post("/webhook/smmc-actions", content=iter([good[:10], good[10:]]))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "payload",
    [
        {"version": MARKER, "status": "firing", "receiver": "smmc-actions", "alerts": []},
        notification("smmc-actions", [alert("X", starts_at=MARKER)]),
        notification("smmc-actions", [{**alert("X"), "status": MARKER}]),
        {"version": "4", "status": "firing", "receiver": MARKER, "alerts": []},
    ],
)
def test_error_answers_never_echo_the_payload(stack, payload):
    r = stack.post("smmc-actions", payload)
    assert r.status_code == 400 and MARKER not in r.text


def test_a_bad_decision_body_is_400_without_echo(stack):
    r = stack.operator.post("/api/actions/1/approve", json={"by": 5, "comment": MARKER * 200})
    assert r.status_code == 400 and MARKER not in r.text


# -- bad input is 400, never 500 or 503 -----------------------------------------------------------------


def _alert_body(**fields: object) -> bytes:
    return json.dumps(notification("smmc-actions", [{**alert("Odd", meter="M1"), **fields}])).encode()


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("nesting 100,000 deep", b"[" * 100_000 + b"]" * 100_000),
        ("nesting in an extra field", _alert_body(extra=json.loads("[" * 40 + "]" * 40))),
        ("5,001-digit integer", b'{"version":"4","truncatedAlerts":' + b"9" * 5001 + b"}"),
        ("startsAt before year 1 in UTC", _alert_body(startsAt="0001-01-01T00:00:00+01:00")),
        ("startsAt after year 9999 in UTC", _alert_body(startsAt="9999-12-31T23:59:59-01:00")),
        ("startsAt without an offset", _alert_body(startsAt="2026-05-04T10:00:00")),
        ("lone surrogate in a label", _alert_body(labels={"alertname": "X\ud800"})),
        ("lone surrogate in an annotation", _alert_body(annotations={"summary": "\udfff"})),
        (
            "duplicate label",
            b'{"version":"4","status":"firing","receiver":"smmc-actions","alerts":[{"status":"firing",'
            b'"labels":{"alertname":"X","command":"disconnect_meter","command":"time_sync"},'
            b'"startsAt":"2026-05-04T10:00:00Z"}]}',
        ),
        ("not UTF-8", b'{"version":"4\xff"}'),
    ],
)
def test_bad_input_is_a_400(stack, name, body):
    r = stack.post("smmc-actions", body)
    assert r.status_code == 400, (name, r.status_code, r.text[:200])
    assert stack.actions() == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/actions/99999999999999999999999",
        "/api/actions?offset=99999999999999999999999",
        "/api/ledger?after_id=99999999999999999999999",
        "/api/actions/-1",
    ],
)
def test_huge_ids_and_offsets_are_400(stack, path):
    assert stack.client.get(path).status_code == 400


def test_huge_id_in_a_decision_is_400(stack):
    assert stack.operator.post("/api/actions/99999999999999999999999/approve", json={}).status_code == 400


def test_alerts_per_notification_are_bounded(tmp_path):
    with ReceiverStack(tmp_path, max_alerts=50) as stack:
        many = [alert("Bulk", meter=f"M{i}") for i in range(51)]
        r = stack.post("smmc-actions", notification("smmc-actions", many))
        assert r.status_code == 413 and "at most 50" in r.text
        r = stack.post("smmc-actions", notification("smmc-actions", many[:50]))
        assert r.status_code == 200 and len(r.json()["actions"]) == 50


# -- a stored odd notification never breaks the API ----------------------------------------------------


def test_an_odd_string_stored_by_an_older_release_does_not_break_the_api(stack):
    # an older release stored a lone surrogate in an annotation (json.dumps escapes it as \udc80)
    r = stack.post(
        "smmc-actions",
        notification(
            "smmc-actions",
            [alert("MeterNotCommissioned", command="recommission_meter", meter="M1", maintenance="remote")],
        ),
    )
    [planned] = r.json()["actions"]
    with sqlite3.connect(stack.db_url) as db:  # written as that release did, outside today's store
        db.execute(
            "UPDATE actions SET annotations = ? WHERE id = ?",
            (json.dumps({"summary": "broken \udc80 text"}), planned["id"]),
        )
    queue = stack.client.get("/api/actions", params={"status": "awaiting_approval"})
    assert queue.status_code == 200
    assert queue.json()[0]["annotations"]["summary"] == "broken \udc80 text"
    ok = stack.operator.post(f"/api/actions/{planned['id']}/approve", json={})
    assert ok.status_code == 200 and ok.json()["status"] == "pending"
    assert stack.client.get(f"/api/actions/{planned['id']}").status_code == 200


# -- health tells the truth ---------------------------------------------------------------------------


def test_a_store_that_cannot_commit_fails_readiness_health_and_store_up(tmp_path):
    db = tmp_path / "receiver.db"
    open_store(str(db)).close()
    with ReceiverStack(tmp_path, db_url=f"file:{db}?mode=ro") as stack:
        r = stack.post("smmc-actions", notification("smmc-actions", [alert("X", meter="M1")]))
        assert r.status_code == 503
        ready = stack.client.get("/readyz")
        assert ready.status_code == 503 and "readonly" in ready.text
        assert stack.client.get("/healthz").status_code == 503
        assert metric(stack, "smmc_receiver_store_up") == 0


def test_a_writable_store_is_ready(stack):
    assert stack.client.get("/readyz").json() == {"status": "ready"}
    assert metric(stack, "smmc_receiver_store_up") == 1


def test_store_failures_are_logged_once_per_change(tmp_path, caplog):
    db = tmp_path / "r.db"
    open_store(str(db)).close()
    health = StoreHealth(SQLiteStore(f"file:{db}?mode=ro"), probe_interval=0)
    with caplog.at_level(logging.INFO, logger="smmc.receiver.health"):
        assert [health.writable() for _ in range(20)] == [False] * 20
        health.store = SQLiteStore(str(db))
        assert health.writable() and health.writable()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and "cannot commit" in messages[0] and "again" in messages[1]


def test_a_failing_worker_logs_once_until_the_error_changes(tmp_path, caplog):
    db = tmp_path / "receiver.db"
    with ReceiverStack(tmp_path, db_url=str(db)) as stack:  # one ticket action left due in the outbox
        r = stack.post("smmc-actions", notification("smmc-actions", [alert("X", maintenance="remote")]))
        assert r.json()["actions"][0]["status"] == "pending"
    ro = SQLiteStore(f"file:{db}?mode=ro")  # claiming it needs a write, which fails on every pass
    config = load_config(
        data=config_data("http://127.0.0.1:9", "http://127.0.0.1:9", {"worker.poll_interval_seconds": 0.01}),
        env=TEST_ENV,
    )
    worker = OutboxWorker(config, ro, {}, ReceiverMetrics(ro), threads=1, reclaim_on_start=False)
    with caplog.at_level(logging.INFO, logger="smmc.receiver.worker"):
        worker.start()
        try:
            deadline = time.monotonic() + 30
            while worker.iteration_failures < 10 and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            worker.stop()
    assert worker.iteration_failures >= 10
    failures = [r for r in caplog.records if "iteration failed" in r.getMessage()]
    assert len(failures) == 1


# -- approvals are a person's act -----------------------------------------------------------------------


def test_the_webhook_token_cannot_decide_and_operators_cannot_post_webhooks(stack):
    r = stack.post(
        "smmc-actions",
        notification(
            "smmc-actions",
            [alert("MeterNotCommissioned", command="recommission_meter", meter="M1", maintenance="remote")],
        ),
    )
    [planned] = r.json()["actions"]
    for verb in ("approve", "reject", "retry"):
        assert stack.client.post(f"/api/actions/{planned['id']}/{verb}", json={"by": "x"}).status_code == 403
    assert stack.post("smmc-actions", {}, token=OPERATOR_TOKEN).status_code == 403
    # both read the queue
    assert stack.operator.get("/api/actions").status_code == 200
    r = stack.operator.post(f"/api/actions/{planned['id']}/reject", json={"comment": "not today"})
    assert r.status_code == 200
    [event] = [e for e in stack.client.get("/api/ledger").json() if e["event"] == "rejected"]
    assert event["detail"]["by"] == OPERATOR and event["detail"]["credential"] == "operator_token"


def test_operator_tokens_from_a_directory_or_a_file(tmp_path):
    # a Kubernetes secret volume: the files live in a timestamped directory that ..data links to, and each
    # key is a link through ..data
    d = tmp_path / "operators"
    (d / "..2026_11_30_11_00_00.1").mkdir(parents=True)
    (d / "..2026_11_30_11_00_00.1" / "ana.rojas").write_text("ana-token-0123456789\n")
    (d / "..2026_11_30_11_00_00.1" / "luis").write_text("luis-token-0123456789")
    (d / "..data").symlink_to("..2026_11_30_11_00_00.1")
    for name in ("ana.rojas", "luis"):
        (d / name).symlink_to(f"..data/{name}")
    assert load_operator_tokens(d) == {"ana.rojas": "ana-token-0123456789", "luis": "luis-token-0123456789"}
    f = tmp_path / "operators.txt"
    f.write_text("# NOC\nana.rojas: ana-token-0123456789\n")
    assert load_operator_tokens(f) == {"ana.rojas": "ana-token-0123456789"}
    f.write_text("ana.rojas: short\n")
    with pytest.raises(CredentialError, match="at least 16"):
        load_operator_tokens(f)
    f.write_text("ana rojas: ana-token-0123456789\n")
    with pytest.raises(CredentialError, match="must match"):
        load_operator_tokens(f)


def _receiver_cli(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "smmc.cli", "receiver", "--config", str(REPO / "alertmanager/actions.yml"),
         "--db", str(tmp_path / "r.db"), *args],
        capture_output=True, text=True, timeout=60, cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "SMMC_JIRA_URL": "http://127.0.0.1:9",
             "SMMC_SMMEPLUS_URL": "http://127.0.0.1:9", **(env or {})},
    )  # fmt: skip


def test_short_tokens_are_refused_at_start(tmp_path):
    token = tmp_path / "token"
    token.write_text("short-token\n")
    r = _receiver_cli(tmp_path, "--token-file", str(token), "--listen", "127.0.0.1:1")
    assert r.returncode == 2 and "at least 16" in r.stderr and "short-token" not in r.stderr
    r = _receiver_cli(tmp_path, "--listen", "127.0.0.1:1", env={"SMMC_RECEIVER_TOKEN": "abc"})
    assert r.returncode == 2 and "at least 16" in r.stderr
    token.write_text("a-long-enough-webhook-token")
    ops = tmp_path / "ops"
    ops.write_text("ana: tiny\n")
    r = _receiver_cli(tmp_path, "--token-file", str(token), "--operator-tokens", str(ops))
    assert r.returncode == 2 and "operator token of ana" in r.stderr


def test_the_receiver_listens_on_loopback_unless_told_otherwise(tmp_path):
    assert parse_listen(":9820") == ("127.0.0.1", 9820)
    r = _receiver_cli(tmp_path, "--help")
    assert "default 127.0.0.1:9820" in " ".join(r.stdout.split())


def test_alertmanager_truncates_notifications_to_what_the_receiver_takes():
    import yaml

    from receiver.payload import DEFAULT_MAX_ALERTS

    config = yaml.safe_load((REPO / "alertmanager/alertmanager.yml").read_text(encoding="utf-8"))
    hooks = [
        hook
        for receiver in config["receivers"]
        for hook in receiver.get("webhook_configs", [])
        if "/webhook/" in hook["url"] and not hook["url"].endswith("/watchdog")
    ]
    assert hooks and all(0 < hook.get("max_alerts", 0) <= DEFAULT_MAX_ALERTS for hook in hooks)
