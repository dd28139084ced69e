"""Crash safety: the receiver process is killed with SIGKILL in the middle of a dispatch (the external
system has done the work, the receiver has not recorded it), then restarted on the same database. No
action may be lost and none doubled: checked in the fake JIRA and the fake SMMePlus themselves."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import httpx
import pytest
import yaml

from simulator import fake_jira, fake_smmeplus
from simulator.serving import ServerThread
from tests.receiver_stack import JIRA_TOKEN, SMMEPLUS_TOKEN, TEST_ENV, alert, config_data, notification

TOKEN = "crash-test-token"
SPECIALIST = {"severity": "warning", "maintenance": "specialist", "team": "specialist"}
REMOTE = {"severity": "warning", "maintenance": "remote", "team": "metering"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ReceiverProcess:
    def __init__(self, config_path, db_path, log_path):
        self.port = _free_port()
        env = {**os.environ, **TEST_ENV, "SMMC_RECEIVER_TOKEN": TOKEN}
        self.log = open(log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "smmc.cli",
                "receiver",
                "--config",
                str(config_path),
                "--db",
                str(db_path),
                "--listen",
                f"127.0.0.1:{self.port}",
                "--worker-threads",
                "1",
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}", timeout=10, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.client.get("/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"receiver did not start (exit {self.proc.poll()}); see {log_path}")
            time.sleep(0.1)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.client.close()
        self.log.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.client.close()
        self.log.close()


def _wait(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("target", ["jira", "smmeplus"])
def test_sigkill_during_dispatch_loses_nothing_and_doubles_nothing(tmp_path, target):
    with (
        ServerThread(fake_jira.create_app(token=JIRA_TOKEN)) as jira_srv,
        ServerThread(fake_smmeplus.create_app(token=SMMEPLUS_TOKEN)) as smm_srv,
    ):
        jira = httpx.Client(base_url=jira_srv.url, timeout=10)
        smm = httpx.Client(base_url=smm_srv.url, timeout=10)
        config_path = tmp_path / "actions.yml"
        config_path.write_text(yaml.safe_dump(config_data(jira_srv.url, smm_srv.url)))
        db = tmp_path / "receiver.db"
        alerts = [alert("MeterFault", meter=f"M{i}", **SPECIALIST) for i in range(4)]
        alerts += [
            alert("ConcentratorClockDrift", command="time_sync", concentrator=f"C{i}", **REMOTE)
            for i in range(3)
        ]
        if target == "smmeplus":
            alerts.reverse()  # the worker meets an SMMePlus command first
        # the external system does the work, then the answer hangs: the receiver is killed while waiting
        fault = {"status": 200, "count": 1, "method": "POST", "delay_seconds": 60, "delay_after": True}
        if target == "jira":
            jira.post("/_fake/faults", json={**fault, "path": "/rest/api/2/issue$"}).raise_for_status()
        else:
            smm.post("/_fake/faults", json={**fault, "path": "/api/v1/commands$"}).raise_for_status()

        first = ReceiverProcess(config_path, db, tmp_path / "receiver.log")
        try:
            r = first.client.post("/webhook/smmc-actions", json=notification("smmc-actions", alerts))
            assert r.status_code == 200 and len(r.json()["actions"]) == 7  # durable: acknowledged
            if target == "jira":
                _wait(lambda: jira.get("/_fake/issues").json(), what="the first JIRA issue")
            else:
                _wait(lambda: smm.get("/_fake/commands").json(), what="the first SMMePlus command")
        finally:
            first.kill9()

        with sqlite3.connect(db) as conn:
            states = dict(conn.execute("SELECT status, COUNT(*) FROM actions GROUP BY status").fetchall())
        assert states.get("dispatching") == 1, states  # killed mid-dispatch, with its work done outside
        assert states.get("pending") == 6  # a worker claims one action at a time: the others wait

        jira.delete("/_fake/faults")
        smm.delete("/_fake/faults")
        second = ReceiverProcess(config_path, db, tmp_path / "receiver.log")
        try:

            def all_final():
                actions = second.client.get("/api/actions").json()
                return actions if all(a["status"] == "succeeded" for a in actions) else None

            actions = _wait(all_final, what="every action to succeed after the restart")
            # the Alertmanager retry of the acknowledged notification is a duplicate, not new work
            again = second.client.post("/webhook/smmc-actions", json=notification("smmc-actions", alerts))
            assert again.json()["status"] == "duplicate"
            reclaimed = [
                a
                for a in actions
                if any(
                    e["event"] == "reclaimed_after_restart"
                    for e in second.client.get(f"/api/actions/{a['id']}").json()["ledger"]
                )
            ]
        finally:
            second.stop()

        assert len(actions) == 7
        assert len(reclaimed) == 1 and reclaimed[0]["attempts"] == 2
        issues = jira.get("/_fake/issues").json()
        commands = smm.get("/_fake/commands").json()
        assert len(issues) == 4 and len(commands) == 3  # one per action: none lost, none doubled
        assert len({i["key"] for i in issues}) == 4
        assert sorted(c["target"]["concentrator"] for c in commands) == ["C0", "C1", "C2"]
        by_id = {a["external_id"] for a in actions}
        assert {i["key"] for i in issues} | {c["id"] for c in commands} == by_id
        jira.close()
        smm.close()
