"""A highly available Alertmanager pair for the end-to-end tests: two real Alertmanager processes
clustered over loopback gossip (`--cluster.listen-address`, `--cluster.peer`), both with the repository's
alertmanager.yml (rewritten like the single one, see harness.py), both delivering to one receiver; one
Prometheus with the repository's rules sends every alert to both. The sources are the simulated utility's
SMMePlus files read by the real exporter; JIRA and SMMePlus are the fakes.

Only what the HA test needs runs here (no OpenGate, no Cloudera): the whole stack stays in stack.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .harness import (
    ALERTMANAGER_YML,
    PROMETHEUS_YML,
    REPO,
    Alertmanager,
    ProcessGroup,
    Prometheus,
    free_port,
    load_yaml,
    rewrite_alertmanager_config,
    rewrite_prometheus_config,
    smmc_command,
    wait_http_ok,
)
from .stack import METERS, METERS_PER_CONCENTRATOR, SEED, START_DATE, Service, generate_rules

# gossip timers for loopback: a peer that dies is noticed in seconds, not the default minutes
PEER_TIMEOUT = "2s"


class ClusteredAlertmanager(Alertmanager):
    """An Alertmanager that gossips with `peers` (host:port of their cluster listeners)."""

    def __init__(
        self,
        group: ProcessGroup,
        config: Mapping[str, Any],
        name: str,
        cluster_port: int,
        peers: Iterable[str],
    ) -> None:
        self.cluster_address = f"127.0.0.1:{cluster_port}"
        super().__init__(
            group,
            config,
            name=name,
            extra_args=[
                f"--cluster.listen-address={self.cluster_address}",
                f"--cluster.advertise-address={self.cluster_address}",
                *(f"--cluster.peer={p}" for p in peers),
                f"--cluster.peer-timeout={PEER_TIMEOUT}",
                "--cluster.gossip-interval=100ms",
                "--cluster.pushpull-interval=2s",
                "--cluster.probe-interval=500ms",
                "--cluster.probe-timeout=300ms",
                "--cluster.reconnect-timeout=30s",
            ],
        )

    def cluster(self) -> dict[str, Any]:
        response = self.client.get("/api/v2/status")
        response.raise_for_status()
        return response.json()["cluster"]


@dataclass
class HAStack:
    workdir: Path
    group: ProcessGroup
    utility: Any  # simulator.utility.Utility
    token: str
    services: dict[str, Service]
    alertmanagers: list[ClusteredAlertmanager] = field(default_factory=list)
    prometheus: Prometheus | None = None
    days: list[Any] = field(default_factory=list)  # the utility's DayRecords: scenario targets

    def emit_day(self, scenario_names: Iterable[str] = ()) -> Any:
        from simulator.scenarios import load_scenario

        record = self.utility.emit_day([load_scenario(n) for n in scenario_names])
        self.days.append(record)
        return record

    def _get(self, service: str, path: str, **kw: Any) -> Any:
        response = httpx.get(f"{self.services[service].url}{path}", timeout=10, **kw)
        response.raise_for_status()
        return response.json()

    def receiver_actions(self) -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {self.token}"}
        return self._get("receiver", "/api/actions", params={"limit": "10000"}, headers=headers)

    def jira_issues(self) -> list[dict[str, Any]]:
        return self._get("fake-jira", "/_fake/issues")

    def jira_creates(self) -> int:
        requests = self._get("fake-jira", "/_fake/requests")
        return sum(1 for r in requests if r["method"] == "POST" and r["path"].rstrip("/").endswith("/issue"))

    def smmeplus_commands(self) -> list[dict[str, Any]]:
        return self._get("fake-smmeplus", "/_fake/commands")

    def receiver_metrics(self) -> str:
        response = httpx.get(f"{self.services['receiver'].url}/metrics", timeout=10)
        response.raise_for_status()
        return response.text

    def close(self) -> None:
        for client in (self.prometheus, *self.alertmanagers):
            if client is not None:
                client.close()
        self.group.close()


def start_ha_stack(workdir: Path, first_day: Iterable[str] = ()) -> HAStack:
    """Start everything; the caller closes the stack (every process group) whatever happens."""
    from simulator.utility import Utility

    group = ProcessGroup(workdir)
    token = secrets.token_urlsafe(24)
    token_file = workdir / "secrets" / "receiver_token"
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text(token, encoding="utf-8")
    token_file.chmod(0o600)
    names = ("fake-jira", "fake-smmeplus", "smmeplus", "receiver")
    services = {n: Service(n, free_port()) for n in names}
    utility = Utility(
        workdir / "sim", METERS, SEED, start_date=START_DATE, meters_per_concentrator=METERS_PER_CONCENTRATOR
    )
    stack = HAStack(workdir, group, utility, token, services)
    try:
        _start(stack, token_file, list(first_day))
    except BaseException:
        stack.close()
        raise
    return stack


def _start(stack: HAStack, token_file: Path, first_day: list[str]) -> None:
    s = stack.services

    def spawn(name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        stack.group.spawn(name, [*smmc_command(), *args], env=env, cwd=REPO)

    spawn("fake-jira", ["fake", "jira", "--listen", s["fake-jira"].address])
    spawn("fake-smmeplus", ["fake", "smmeplus", "--listen", s["fake-smmeplus"].address])
    stack.emit_day(first_day)
    sim = stack.utility.paths
    spawn(
        "smmeplus",
        [
            *("exporter", "smmeplus", "--inbox", str(sim["inbox"]), "--inventory", str(sim["inventory"])),
            *("--state-dir", str(stack.workdir / "smmeplus-state"), "--listen", s["smmeplus"].address),
            *("--scan-interval", "0.5", "--settle-seconds", "0.5"),
        ],
    )
    spawn(
        "receiver",
        [
            *("receiver", "--config", str(REPO / "alertmanager" / "actions.yml")),
            *("--db", f"sqlite:///{stack.workdir / 'receiver.sqlite'}", "--listen", s["receiver"].address),
            *("--token-file", str(token_file)),
        ],
        env={
            "SMMC_JIRA_URL": s["fake-jira"].url,
            "SMMC_SMMEPLUS_URL": s["fake-smmeplus"].url,
            "SMMC_JIRA_TOKEN": "e2e-jira-token",
            "SMMC_SMMEPLUS_TOKEN": "e2e-smmeplus-token",
        },
    )
    health = {"fake-jira": "/_fake/issues", "fake-smmeplus": "/_fake/commands"}
    health |= {"smmeplus": "/healthz", "receiver": "/healthz"}
    for name, path in health.items():
        wait_http_ok(f"{s[name].url}{path}", 90, stack.group)

    am_config = rewrite_alertmanager_config(
        load_yaml(ALERTMANAGER_YML), s["receiver"].address, token_file, ALERTMANAGER_YML.parent
    )
    gossip = [free_port(), free_port()]
    for i, port in enumerate(gossip):
        peers = [f"127.0.0.1:{p}" for p in gossip if p != port]
        stack.alertmanagers.append(
            ClusteredAlertmanager(stack.group, am_config, f"alertmanager-{i}", port, peers)
        )
    prom_port = free_port()
    targets = {"smmeplus": s["smmeplus"].address, "prometheus": f"127.0.0.1:{prom_port}"}
    targets |= {"receiver": s["receiver"].address}
    prom_config, _dropped = rewrite_prometheus_config(
        load_yaml(PROMETHEUS_YML), targets, generate_rules(stack.workdir / "rules"), "unused:0"
    )
    for manager in prom_config["alerting"]["alertmanagers"]:
        # Prometheus sends every alert to every Alertmanager of the pair: they deduplicate by gossip
        manager["static_configs"] = [{"targets": [am.address for am in stack.alertmanagers]}]
    stack.prometheus = Prometheus(stack.group, prom_config, port=prom_port)
    for am in stack.alertmanagers:
        am.wait_ready()
    stack.prometheus.wait_ready()
