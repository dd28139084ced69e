"""Two receiver replicas (two `smmc receiver` processes) on one real PostgreSQL database: an HA pair of
Alertmanagers delivering the same notifications to different replicas gives one action per firing
episode, and an action whose replica is killed (SIGKILL) mid-dispatch is finished by the other replica
once its lease expires, without doubling it. Checked in the fake JIRA and fake SMMePlus themselves."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pg_server import pg_database_fixture, pg_server_fixture

from simulator import fake_jira, fake_smmeplus
from simulator.serving import ServerThread
from tests.receiver_stack import JIRA_TOKEN, SMMEPLUS_TOKEN, TEST_ENV, alert, config_data, notification

pg_server = pg_server_fixture()
pg_url = pg_database_fixture()

TOKEN = "replica-test-token"
SPECIALIST = {"severity": "warning", "maintenance": "specialist", "team": "specialist"}
REMOTE = {"severity": "warning", "maintenance": "remote", "team": "metering"}
LEASE_SECONDS = 3
CREATE_ISSUE = "/rest/api/2/issue"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Replica:
    """One `smmc receiver` process; `wait_healthy` separately, so replicas can start together."""

    def __init__(self, name: str, config: Path, db_url: str, logs: Path) -> None:
        self.name = name
        self.port = _free_port()
        self.log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "smmc.cli",
                "receiver",
                "--config",
                str(config),
                "--db",
                db_url,
                "--listen",
                f"127.0.0.1:{self.port}",
                "--worker-threads",
                "2",
                "--log-level",
                "warning",
            ],
            env={**os.environ, **TEST_ENV, "SMMC_RECEIVER_TOKEN": TOKEN},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}", timeout=15, headers={"Authorization": f"Bearer {TOKEN}"}
        )

    def wait_healthy(self, timeout: float = 60) -> Replica:
        def healthy() -> bool:
            assert self.proc.poll() is None, f"{self.name} exited {self.proc.returncode}"
            try:
                return self.client.get("/healthz").status_code == 200
            except httpx.HTTPError:
                return False

        _wait(healthy, timeout, f"{self.name} to answer /healthz")
        return self

    def post(self, alerts: list[dict[str, Any]], external_url: str) -> dict[str, Any]:
        r = self.client.post(
            "/webhook/smmc-actions", json=notification("smmc-actions", alerts, external_url=external_url)
        )
        assert r.status_code == 200, r.text
        return r.json()

    def actions(self) -> list[dict[str, Any]]:
        r = self.client.get("/api/actions", params={"limit": "10000"})
        r.raise_for_status()
        return r.json()

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.client.close()
        self.log.close()


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def fakes():
    with (
        ServerThread(fake_jira.create_app(token=JIRA_TOKEN)) as jira_srv,
        ServerThread(fake_smmeplus.create_app(token=SMMEPLUS_TOKEN)) as smm_srv,
        httpx.Client(base_url=jira_srv.url, timeout=10) as jira,
        httpx.Client(base_url=smm_srv.url, timeout=10) as smm,
    ):
        yield jira, smm


@pytest.fixture
def replicas(tmp_path: Path, pg_url: str, fakes):
    jira, smm = fakes
    config = tmp_path / "actions.yml"
    data = config_data(str(jira.base_url), str(smm.base_url), {"worker.lease_seconds": LEASE_SECONDS})
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    started: list[Replica] = []

    def start(name: str) -> Replica:
        replica = Replica(name, config, pg_url, tmp_path)
        started.append(replica)
        return replica

    try:
        yield start
    finally:
        for replica in started:
            replica.stop()


def _episodes(n_tickets: int, n_commands: int, tag: str) -> list[dict[str, Any]]:
    alerts = [alert("MeterFault", meter=f"{tag}M{i}", **SPECIALIST) for i in range(n_tickets)]
    alerts += [
        alert("ConcentratorClockDrift", command="time_sync", concentrator=f"{tag}C{i}", **REMOTE)
        for i in range(n_commands)
    ]
    return alerts


def _creates(jira: httpx.Client) -> int:
    requests = jira.get("/_fake/requests").json()
    return sum(1 for r in requests if r["method"] == "POST" and r["path"].rstrip("/").endswith(CREATE_ISSUE))


def test_ha_duplicates_across_two_replicas_give_one_action_per_episode(replicas, fakes) -> None:
    jira, smm = fakes
    a, b = replicas("replica-a"), replicas("replica-b")  # started together: concurrent schema set-up
    a.wait_healthy(), b.wait_healthy()
    batches = [_episodes(3, 2, f"B{n}-") for n in range(4)]
    answers: list[dict[str, Any]] = []

    def deliver(replica: Replica, external_url: str) -> None:
        for alerts in batches:  # each Alertmanager of the pair sends every group, to its own replica
            answers.append(replica.post(alerts, external_url))

    threads = [
        threading.Thread(target=deliver, args=(a, "http://alertmanager-0:9093")),
        threading.Thread(target=deliver, args=(b, "http://alertmanager-1:9093")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 8
    # the same alerts again, to the other replica: an Alertmanager retry, re-sent after a timeout
    for alerts in batches:
        assert not b.post(alerts, "http://alertmanager-0:9093")["actions"]

    def settled() -> list[dict[str, Any]] | None:
        actions = a.actions()
        return actions if actions and all(x["status"] == "succeeded" for x in actions) else None

    actions = _wait(settled, 60, "every action to succeed")
    assert len(actions) == 20  # 4 groups x (3 tickets + 2 commands): one action per firing episode
    assert len(b.actions()) == 20  # one database: both replicas see the same outbox
    assert all(x["attempts"] == 1 for x in actions)  # no action was dispatched twice
    issues = jira.get("/_fake/issues").json()
    commands = smm.get("/_fake/commands").json()
    assert len(issues) == 12 and _creates(jira) == 12
    assert len(commands) == 8 and len({c["idempotency_key"] for c in commands}) == 8
    assert {i["key"] for i in issues} | {c["id"] for c in commands} == {x["external_id"] for x in actions}


def test_a_replica_killed_mid_dispatch_is_finished_by_the_other(replicas, fakes) -> None:
    jira, smm = fakes
    a = replicas("replica-a").wait_healthy()
    # JIRA creates the first issue, then its answer hangs: replica A is killed while it waits
    fault = {"status": 200, "count": 1, "method": "POST", "path": CREATE_ISSUE + "$", "delay_seconds": 60}
    jira.post("/_fake/faults", json={**fault, "delay_after": True}).raise_for_status()
    alerts = _episodes(4, 2, "K-")
    assert len(a.post(alerts, "http://alertmanager-0:9093")["actions"]) == 6
    hung_key = _wait(lambda: jira.get("/_fake/issues").json(), 30, "the first JIRA issue")[0]["key"]
    a.kill9()
    jira.delete("/_fake/faults").raise_for_status()

    b = replicas("replica-b").wait_healthy()
    # another replica's worker: it reclaims nothing at start (A might be alive), only expired leases

    def settled() -> list[dict[str, Any]] | None:
        actions = b.actions()
        return actions if len(actions) == 6 and all(x["status"] == "succeeded" for x in actions) else None

    actions = _wait(settled, 60, "replica B to finish every action")
    issues = jira.get("/_fake/issues").json()
    commands = smm.get("/_fake/commands").json()
    assert len(issues) == 4 and len({i["key"] for i in issues}) == 4  # the hung create was not repeated
    assert _creates(jira) == 4
    assert len(commands) == 2
    reclaimed = [
        x
        for x in actions
        if any(
            e["event"] == "lease_expired_reclaimed"
            for e in b.client.get(f"/api/actions/{x['id']}").json()["ledger"]
        )
    ]
    # the hung action, and the one A's second worker thread may have had in flight, were re-run once each
    assert 1 <= len(reclaimed) <= 2 and all(x["attempts"] == 2 for x in reclaimed)
    assert hung_key in {x["external_id"] for x in reclaimed}
    assert {i["key"] for i in issues} | {c["id"] for c in commands} == {x["external_id"] for x in actions}
