"""The services of a local stack: their documented ports (the compose stack's), health paths and what
each one is; the port plan (defaults, an offset, overrides) and the check that the ports are free."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .processes import StackError, port_taken


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int  # the documented default (README, docs/stack.md; compose uses the same)
    health: str  # path answering 200 once the service is up
    what: str
    login: str = "none"


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "grafana",
        3000,
        "/api/health",
        "Grafana, the Control Room dashboards",
        "admin / the Grafana admin password",
    ),
    ServiceSpec("prometheus", 9090, "/-/ready", "Prometheus (targets, rules, alerts, queries)"),
    ServiceSpec("alertmanager", 9093, "/-/ready", "Alertmanager (alerts, silences, inhibitions)"),
    ServiceSpec(
        "receiver",
        9820,
        "/healthz",
        "the receiver's API (/api/actions, /api/ledger)",
        "Bearer <receiver token>",
    ),
    ServiceSpec("smmeplus", 9810, "/healthz", "SMMePlus exporter /metrics"),
    ServiceSpec("opengate", 9811, "/healthz", "OpenGate exporter /metrics"),
    ServiceSpec("cloudera", 9812, "/healthz", "Cloudera exporter /metrics"),
    ServiceSpec("fake-opengate", 9830, "/_fake/stats", "fake OpenGate North API"),
    ServiceSpec("fake-jira", 9831, "/_fake/issues", "fake JIRA (/_fake/issues)"),
    ServiceSpec("fake-smmeplus", 9832, "/_fake/commands", "fake SMMePlus integration (/_fake/commands)"),
    ServiceSpec(
        "fake-cloudera",
        9833,
        "/_fake/stats",
        "fake Cloudera Manager API (the data lake's resources)",
        "monitor / the Cloudera Manager password",
    ),
)
SPECS = {s.name: s for s in SERVICES}
# the scrape jobs of prometheus/prometheus.yml and the service each one scrapes
JOB_SERVICE = {
    "smmeplus": "smmeplus",
    "opengate": "opengate",
    "cloudera": "cloudera",
    "receiver": "receiver",
    "prometheus": "prometheus",
    "alertmanager": "alertmanager",
    "grafana": "grafana",
}


def plan_ports(offset: int = 0, overrides: Mapping[str, int] | None = None) -> dict[str, int]:
    """Each service's port: its documented default plus `offset`, unless overridden."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(SPECS))
    if unknown:
        raise StackError(f"unknown service {unknown[0]!r} in --port (services: {', '.join(SPECS)})")
    ports = {s.name: overrides.get(s.name, s.port + offset) for s in SERVICES}
    bad = [f"{n}={p}" for n, p in ports.items() if not 0 < p < 65536]
    if bad:
        raise StackError(f"port out of range: {bad[0]} (check --port-offset and --port)")
    return ports


def check_ports(ports: Mapping[str, int], names: list[str]) -> None:
    """One line for the first taken port: the service and the flag that moves it."""
    for name in names:
        port = ports[name]
        if port_taken(port):
            raise StackError(
                f"port {port} for {name} is taken (something listens on 127.0.0.1:{port}): "
                f"use --port {name}=PORT, or --port-offset N to move every port"
            )


@dataclass
class Service:
    name: str
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"
