"""Inhibition scenario against a real Alertmanager: post alerts with API v2, read back which are inhibited.

The alerts of rules/tests/inhibition.yml are built from the rules' own labels (thresholds.yml + the test
cases' object labels) with the topology label values replaced per entry, so a rename in the rules is caught
here too.
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
from smmc.rules.model import RulesError, RuleSet
from smmc.rules.routing import CONFIG
from smmc.yamlfile import read_mapping

SCENARIO = Path("rules/tests/inhibition.yml")
_REQUIRED_KEYS = {"alert", "inhibited", "why"}
_ENTRY_KEYS = _REQUIRED_KEYS | {"labels"}


@dataclass(frozen=True)
class Probe:
    """One alert of the scenario and whether Alertmanager must inhibit it."""

    key: str
    alertname: str
    labels: dict[str, str]
    inhibited: bool
    why: str


def scenario(rs: RuleSet, root: Path) -> list[Probe]:
    """The probes of rules/tests/inhibition.yml: each entry's object labels over its rule's own labels."""
    path = root / SCENARIO
    doc = read_mapping(path, RulesError)
    if not doc:
        raise RulesError(f"{path}: no scenario entries")
    probes = []
    for key, entry in doc.items():
        where = f"{SCENARIO.name}: {key}"
        if not isinstance(entry, dict) or set(entry) - _ENTRY_KEYS or _REQUIRED_KEYS - set(entry):
            raise RulesError(f"{where}: needs {sorted(_REQUIRED_KEYS)}, may have labels, nothing else")
        name = entry["alert"]
        try:
            rule = rs.alert(name)
        except KeyError:
            raise RulesError(f"{where}: no alert {name!r} in thresholds.yml") from None
        if not isinstance(entry["inhibited"], bool):
            raise RulesError(f"{where}: inhibited must be true or false")
        labels = dict(rule.fire.labels) if rule.fire else {}
        labels.update({str(k): str(v) for k, v in (entry.get("labels") or {}).items()})
        probes.append(
            Probe(
                str(key),
                name,
                {"alertname": name, **labels, **rule.labels},
                entry["inhibited"],
                str(entry["why"]),
            )
        )
    return probes


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
    probes = scenario(rs, root)
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
