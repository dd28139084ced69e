"""The repository files the Kubernetes resources are generated from, loaded once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smmc.repo import REPO_ROOT
from smmc.yamlfile import parse_yaml, read_yaml


class SourceError(ValueError):
    """A source file is missing or unusable."""


@dataclass(frozen=True)
class Component:
    """One of the stack's own services (an exporter or the receiver)."""

    key: str  # smmeplus, opengate, cloudera, receiver
    compose_service: str  # service name in docker-compose.yml (and host in prometheus.yml)
    port: int
    role: str  # exporter | receiver

    @property
    def name(self) -> str:
        """Kubernetes name of its Deployment and Service."""
        return f"smmc-{self.compose_service}"

    @property
    def compose_address(self) -> str:
        return f"{self.compose_service}:{self.port}"


COMPONENTS: tuple[Component, ...] = (
    Component("smmeplus", "smmeplus-exporter", 9810, "exporter"),
    Component("opengate", "opengate-exporter", 9811, "exporter"),
    Component("cloudera", "cloudera-exporter", 9812, "exporter"),
    Component("receiver", "receiver", 9820, "receiver"),
)


@dataclass(frozen=True)
class ScrapeJob:
    """A prometheus.yml scrape job of one of our components, with what a ServiceMonitor carries over."""

    job: str
    component: Component
    interval: str
    timeout: str
    path: str
    honor_labels: bool
    params: dict[str, list[str]]


@dataclass(frozen=True)
class Sources:
    root: Path
    rule_files: dict[str, dict[str, Any]]  # stem ("meters") -> parsed rule file
    prometheus: dict[str, Any]
    scrape_jobs: tuple[ScrapeJob, ...]
    alertmanager: dict[str, Any] | None  # None while alertmanager/alertmanager.yml does not exist
    actions_text: str
    actions: dict[str, Any]
    templates: dict[str, str]  # file name -> text, alertmanager/templates/*.tmpl


def _read_yaml(path: Path) -> Any:
    if not path.exists():
        raise SourceError(f"{path}: missing")
    return read_yaml(path, SourceError)


def _scrape_jobs(prometheus: dict[str, Any]) -> tuple[ScrapeJob, ...]:
    glob = prometheus.get("global") or {}
    by_address = {c.compose_address: c for c in COMPONENTS}
    jobs = []
    for sc in prometheus.get("scrape_configs") or []:
        targets = [t for s in sc.get("static_configs") or [] for t in s.get("targets") or []]
        ours = [by_address[t] for t in targets if t in by_address]
        if not ours:
            continue
        if len(ours) != len(targets) or len({c.key for c in ours}) != 1:
            raise SourceError(f"prometheus.yml job {sc['job_name']!r} mixes our services with other targets")
        unsupported = set(sc) - {
            "job_name",
            "static_configs",
            "scrape_interval",
            "scrape_timeout",
            "metrics_path",
            "honor_labels",
            "params",
            "scheme",
        }
        if unsupported:
            raise SourceError(
                f"prometheus.yml job {sc['job_name']!r}: {', '.join(sorted(unsupported))} has no "
                "ServiceMonitor equivalent in this generator"
            )
        jobs.append(
            ScrapeJob(
                job=sc["job_name"],
                component=ours[0],
                interval=str(sc.get("scrape_interval", glob.get("scrape_interval", "1m"))),
                timeout=str(sc.get("scrape_timeout", glob.get("scrape_timeout", "10s"))),
                path=str(sc.get("metrics_path", "/metrics")),
                honor_labels=bool(sc.get("honor_labels", False)),
                params={k: [str(v) for v in vs] for k, vs in (sc.get("params") or {}).items()},
            )
        )
    return tuple(jobs)


def load(root: Path = REPO_ROOT) -> Sources:
    rules_dir = root / "rules"
    rule_files = {}
    for path in sorted(rules_dir.glob("*.rules.yml")):
        data = _read_yaml(path)
        if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
            raise SourceError(f"{path}: not a Prometheus rule file (no groups)")
        rule_files[path.name.removesuffix(".rules.yml")] = data
    if not rule_files:
        raise SourceError(f"{rules_dir}: no *.rules.yml (run `smmc rules generate`)")
    prometheus = _read_yaml(root / "prometheus" / "prometheus.yml")
    am_path = root / "alertmanager" / "alertmanager.yml"
    alertmanager = _read_yaml(am_path) if am_path.exists() else None
    actions_path = root / "alertmanager" / "actions.yml"
    try:
        actions_text = actions_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(f"{actions_path}: missing") from None
    templates = {
        p.name: p.read_text(encoding="utf-8")
        for p in sorted((root / "alertmanager" / "templates").glob("*.tmpl"))
    }
    return Sources(
        root=root,
        rule_files=rule_files,
        prometheus=prometheus,
        scrape_jobs=_scrape_jobs(prometheus),
        alertmanager=alertmanager,
        actions_text=actions_text,
        actions=parse_yaml(actions_text, str(actions_path), SourceError),
        templates=templates,
    )
