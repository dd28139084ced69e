"""Inhibition scenario against a real Alertmanager: post alerts with API v2, read back which are inhibited.

The alerts are built from the rules' own labels (thresholds.yml + the test cases' object labels) with
the topology label values replaced per scenario, so a rename in the rules is caught here too.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from smmc.rules import tools
from smmc.rules.model import RuleSet
from smmc.rules.routing import CONFIG


@dataclass(frozen=True)
class Probe:
    """One alert of the scenario and whether Alertmanager must inhibit it."""

    key: str
    alertname: str
    labels: dict[str, str]
    inhibited: bool
    why: str


def scenario(rs: RuleSet) -> list[Probe]:
    def alert(key: str, name: str, inhibited: bool, why: str, **labels: str) -> Probe:
        a = rs.alert(name)
        base = dict(a.fire.labels) if a.fire else {}
        base.update(labels)
        return Probe(key, name, {"alertname": name, **base, **a.labels}, inhibited, why)

    return [
        # topology: modem -> concentrator -> meters
        alert(
            "modem-a",
            "ModemWithoutPresence",
            False,
            "a cause is never inhibited by its effects",
            modem="MODEM-A",
            concentrator="TD-A",
            comuna="SANTIAGO",
        ),
        alert("conc-a", "ConcentratorUnreachable", True, "its modem has no presence", concentrator="TD-A"),
        alert(
            "conc-a-wo",
            "WorkOrderConcentratorUnreachable",
            True,
            "its modem has no presence",
            concentrator="TD-A",
        ),
        alert("modem-a-ip", "ModemIpPresenceNok", True, "the modem has no presence at all", modem="MODEM-A"),
        alert(
            "meters-a",
            "MeterCommunicationAlarm",
            True,
            "their concentrator is unreachable",
            concentrator="TD-A",
            comuna="SANTIAGO",
        ),
        alert("conc-b", "ConcentratorUnreachable", False, "its modem is fine", concentrator="TD-B"),
        # the router before the status report: the SWE file (meters) lands, the concentrator's status word
        # (unreachable) has not yet: the router alert explains the meters directly
        alert(
            "modem-r",
            "ModemWithoutPresence",
            False,
            "a cause is never inhibited by its effects",
            modem="MODEM-R",
            concentrator="TD-R",
            comuna="SANTIAGO",
        ),
        alert(
            "meters-r",
            "MeterCommunicationAlarm",
            True,
            "their router has no presence (no ConcentratorUnreachable yet)",
            concentrator="TD-R",
            comuna="SANTIAGO",
        ),
        alert(
            "meters-r-field",
            "MeterCommunicationAlarmPersistent",
            True,
            "their router has no presence (no ConcentratorUnreachable yet)",
            concentrator="TD-R",
            comuna="SANTIAGO",
        ),
        alert(
            "wo-r-reach",
            "WorkOrderErrorsRetry",
            True,
            "meter reachability behind a router without presence",
            concentrator="TD-R",
            category="meter_reachability",
        ),
        alert(
            "wo-r-meters",
            "WorkOrderMeterUnreachable",
            True,
            "meter reachability behind a router without presence",
            concentrator="TD-R",
            category="meter_reachability",
        ),
        # a PLC modem failure (CSW U) explains its meters as an unreachable concentrator does
        alert(
            "plc-p",
            "ConcentratorConditionHigh",
            False,
            "a cause",
            concentrator="TD-P",
            comuna="NUNOA",
            flag="U",
        ),
        alert(
            "meters-p",
            "MeterCommunicationAlarm",
            True,
            "their concentrator's PLC modem failed",
            concentrator="TD-P",
            comuna="NUNOA",
        ),
        alert(
            "wo-p-meters",
            "WorkOrderMeterUnreachable",
            True,
            "their concentrator's PLC modem failed",
            concentrator="TD-P",
            category="meter_reachability",
        ),
        alert(
            "plc-q-field",
            "ConcentratorConditionHighPersistent",
            False,
            "the field rung of a PLC failure is a cause too",
            concentrator="TD-Q",
            comuna="NUNOA",
            flag="U",
        ),
        alert(
            "meters-q-field",
            "MeterCommunicationAlarmPersistent",
            True,
            "no SM04 crew per meter: the concentrator's PLC modem failed",
            concentrator="TD-Q",
            comuna="NUNOA",
        ),
        alert(
            "tamper-c",
            "ConcentratorConditionHigh",
            False,
            "a concentrator tamper flag (L) says nothing about the PLC line",
            concentrator="TD-C",
            comuna="NUNOA",
            flag="L",
        ),
        # a SIM that is not ACTIVE -> its router's presence (one SM05 order per router, the SIM's)
        alert(
            "sim-s",
            "SimNotActiveInService",
            False,
            "the SIM is the cause",
            modem="MODEM-S",
            concentrator="TD-S",
            comuna="SANTIAGO",
            sim_state="SUSPENDED",
        ),
        alert(
            "modem-s",
            "ModemWithoutPresence",
            True,
            "its SIM is not ACTIVE",
            modem="MODEM-S",
            concentrator="TD-S",
            comuna="SANTIAGO",
        ),
        alert("modem-s-ip", "ModemIpPresenceNok", True, "its SIM is not ACTIVE", modem="MODEM-S"),
        alert(
            "modem-t",
            "ModemWithoutPresence",
            False,
            "its SIM is ACTIVE (no SIM alert for this modem)",
            modem="MODEM-T",
            concentrator="TD-T",
            comuna="SANTIAGO",
        ),
        alert(
            "conc-s",
            "ConcentratorUnreachable",
            True,
            "its modem has no presence (inhibited itself, still a cause)",
            concentrator="TD-S",
        ),
        alert(
            "escalation-s",
            "ModemIncidentEscalation",
            False,
            "the operator's SLA incident is not replaced by the field order",
            modem="MODEM-S",
            concentrator="TD-S",
            comuna="SANTIAGO",
        ),
        # the concentrator ladder: remote, specialist, field for the same flag
        alert(
            "csw-k-field",
            "ConcentratorConditionHighPersistent",
            False,
            "the top rung",
            concentrator="TD-K",
            comuna="NUNOA",
            flag="Z",
        ),
        alert(
            "csw-k-spec",
            "ConcentratorConditionHighSpecialist",
            True,
            "the field rung replaces it",
            concentrator="TD-K",
            comuna="NUNOA",
            flag="Z",
        ),
        alert(
            "csw-k-remote",
            "ConcentratorConditionHigh",
            True,
            "the field rung replaces it",
            concentrator="TD-K",
            comuna="NUNOA",
            flag="Z",
        ),
        alert(
            "csw-k-other",
            "ConcentratorConditionHigh",
            False,
            "another flag of the same concentrator",
            concentrator="TD-K",
            comuna="NUNOA",
            flag="I",
        ),
        alert(
            "meters-c",
            "MeterCommunicationAlarm",
            False,
            "their concentrator is reachable",
            concentrator="TD-C",
            comuna="NUNOA",
        ),
        # grid outage -> meter communication
        alert(
            "outage-d", "GridOutage", False, "an outage is a cause", concentrator="TD-D", comuna="SAN MIGUEL"
        ),
        alert(
            "meters-d",
            "MeterCommunicationAlarm",
            True,
            "the grid outage explains it",
            concentrator="TD-D",
            comuna="SAN MIGUEL",
        ),
        alert(
            "wo-d-reach",
            "WorkOrderErrorsRetry",
            True,
            "meter reachability during a grid outage",
            concentrator="TD-D",
            category="meter_reachability",
        ),
        alert(
            "wo-d-dev",
            "WorkOrderErrorsRetry",
            False,
            "device behaviour is not explained by an outage",
            concentrator="TD-D",
            category="device_behavior",
        ),
        # the ladder: a higher rung replaces the lower ones for the same object and problem
        alert(
            "tamper-x-field",
            "MeterTamperPersistent",
            False,
            "the top rung",
            meter="MX",
            concentrator="TD-E",
            flag="CAPE",
        ),
        alert(
            "tamper-x-remote",
            "MeterTamperDetected",
            True,
            "the field rung replaces it",
            meter="MX",
            concentrator="TD-E",
            flag="CAPE",
        ),
        alert(
            "tamper-y-remote",
            "MeterTamperDetected",
            False,
            "another meter",
            meter="MY",
            concentrator="TD-E",
            flag="CAPE",
        ),
        alert(
            "hw-z-spec",
            "MeterHardwareFaultSpecialist",
            False,
            "no field rung yet",
            meter="MZ",
            concentrator="TD-E",
            flag="DRAM",
        ),
        alert(
            "hw-z-remote",
            "MeterHardwareFault",
            True,
            "the specialist rung replaces it",
            meter="MZ",
            concentrator="TD-E",
            flag="DRAM",
        ),
        # severity: critical silences warning and info of the same object
        alert("conc-f-crit", "ConcentratorUnreachablePersistent", False, "critical", concentrator="TD-F"),
        alert(
            "conc-f-cond",
            "ConcentratorConditionMedium",
            True,
            "a critical alert on the same concentrator",
            concentrator="TD-F",
            comuna="LAS CONDES",
            flag="O",
        ),
        alert(
            "conc-g-cond",
            "ConcentratorConditionMedium",
            False,
            "another concentrator",
            concentrator="TD-G",
            comuna="LAS CONDES",
            flag="O",
        ),
        alert("job-h-crit", "CriticalDataJobLate", False, "critical", job="son flow 1"),
        alert("job-h-other", "DataJobLate", False, "another job", job="ebmer"),
        alert("watchdog", "Watchdog", False, "the dead man's switch is never inhibited"),
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(method: str, url: str, body: object | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        text = resp.read()
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text.decode(errors="replace")


def local_config(root: Path, workdir: Path, receiver_url: str) -> Path:
    """The repository's config with the receiver host and token path rewritten (as the e2e harness does)."""
    token = workdir / "receiver-token"
    token.write_text("test-token\n")
    text = (root / CONFIG).read_text(encoding="utf-8")
    text = text.replace("http://receiver:9820", receiver_url)
    text = text.replace("/etc/alertmanager/secrets/receiver-token", str(token))
    doc = yaml.safe_load(text)
    doc.pop("templates", None)
    path = workdir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


class RunningAlertmanager:
    def __init__(self, config: Path, workdir: Path) -> None:
        self.port = _free_port()
        cluster = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "alertmanager.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                tools.alertmanager(),
                f"--config.file={config}",
                f"--storage.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--cluster.listen-address=127.0.0.1:{cluster}",
                "--cluster.peer-timeout=1s",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"alertmanager exited: {(workdir / 'alertmanager.log').read_text()[-2000:]}"
                )
            try:
                _http("GET", f"{self.url}/-/ready")
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("alertmanager did not become ready within 30 s")

    def post(self, probes: list[Probe]) -> None:
        now = datetime.now(UTC)
        body = [
            {
                "labels": p.labels,
                "annotations": {"summary": p.why},
                "startsAt": (now - timedelta(minutes=1)).isoformat(),
                "endsAt": (now + timedelta(hours=1)).isoformat(),
            }
            for p in probes
        ]
        _http("POST", f"{self.url}/api/v2/alerts", body)

    def inhibited(self) -> dict[frozenset[tuple[str, str]], bool]:
        alerts = _http("GET", f"{self.url}/api/v2/alerts")
        assert isinstance(alerts, list)
        return {frozenset(a["labels"].items()): bool(a["status"]["inhibitedBy"]) for a in alerts}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def run(rs: RuleSet, root: Path) -> tuple[list[Probe], dict[str, bool], list[str]]:
    """Post the scenario; return the probes, what Alertmanager said per probe, and the problems."""
    probes = scenario(rs)
    with tempfile.TemporaryDirectory(prefix="smmc-inhibition-") as tmp:
        workdir = Path(tmp)
        am = RunningAlertmanager(local_config(root, workdir, "http://127.0.0.1:9"), workdir)
        try:
            am.post(probes)
            got: dict[str, bool] = {}
            deadline = time.monotonic() + 20
            while True:
                state = am.inhibited()
                got = {p.key: state.get(frozenset(p.labels.items()), None) for p in probes}  # type: ignore[misc]
                done = all(v is not None for v in got.values()) and all(
                    got[p.key] == p.inhibited for p in probes
                )
                if done or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        finally:
            am.stop()
    problems = []
    for p in probes:
        if got.get(p.key) is None:
            problems.append(f"inhibition {p.key}: Alertmanager does not list the alert")
        elif got[p.key] != p.inhibited:
            verb = "should be" if p.inhibited else "should not be"
            problems.append(f"inhibition {p.key} ({p.alertname}) {verb} inhibited: {p.why}")
    return probes, got, problems
