"""Prometheus, Alertmanager and Grafana as local processes, with small HTTP clients for what a stack
(and its tests) ask of them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import httpx

from .binaries import ALERTMANAGER, PROMETHEUS, Program
from .config import write_yaml
from .processes import ProcessGroup, free_port, wait_http_ok


class _Server:
    """A Prometheus-family server as a process on a free (or given) 127.0.0.1 port: its config written
    under the group's work directory, its data beside it, ready when /-/ready answers. A subclass names
    its program, its config file, its storage flag and the flags it adds to the caller's `extra_args`."""

    program: ClassVar[Program]
    config_file: ClassVar[str]
    storage_flag: ClassVar[str]

    def __init__(
        self,
        group: ProcessGroup,
        config: Mapping[str, Any],
        name: str | None = None,
        port: int | None = None,
        extra_args: Iterable[str] = (),
    ) -> None:
        name = name or self.program.what
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"
        workdir = group.workdir / name
        self.config_path = write_yaml(workdir / self.config_file, config)
        self.process = group.spawn(
            name,
            [
                self.program.require(),
                f"--config.file={self.config_path}",
                f"{self.storage_flag}={workdir / 'data'}",
                f"--web.listen-address={self.address}",
                f"--web.external-url={self.url}/",
                *self.flags(list(extra_args)),
            ],
        )
        self.group = group
        self.client = httpx.Client(base_url=self.url, timeout=10.0)

    def flags(self, extra_args: list[str]) -> list[str]:
        return extra_args

    def wait_ready(self, timeout: float = 60) -> None:
        wait_http_ok(f"{self.url}/-/ready", timeout, self.group)

    def close(self) -> None:
        self.client.close()


class Prometheus(_Server):
    program = PROMETHEUS
    config_file = "prometheus.yml"
    storage_flag = "--storage.tsdb.path"

    def flags(self, extra_args: list[str]) -> list[str]:
        return ["--web.enable-lifecycle", "--log.level=info", *extra_args]

    def _data(self, path: str, **params: str) -> Any:
        response = self.client.get(path, params=params)
        response.raise_for_status()
        body = response.json()
        if body.get("status") != "success":
            raise ValueError(f"{path}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self._data("/api/v1/query", query=expr)
        return data["result"] if data["resultType"] in ("vector", "matrix") else [data]

    def query_range(self, expr: str, start: float, end: float, step: str = "2s") -> list[dict[str, Any]]:
        data = self._data("/api/v1/query_range", query=expr, start=str(start), end=str(end), step=step)
        return data["result"]

    def targets(self) -> list[dict[str, Any]]:
        return self._data("/api/v1/targets")["activeTargets"]

    def alerts(self) -> list[dict[str, Any]]:
        return self._data("/api/v1/alerts")["alerts"]

    def rule_groups(self) -> list[dict[str, Any]]:
        return self._data("/api/v1/rules")["groups"]

    def firing(self, alertname: str, **labels: str) -> list[dict[str, Any]]:
        return [
            a
            for a in self.alerts()
            if a["state"] == "firing"
            and a["labels"].get("alertname") == alertname
            and all(a["labels"].get(k) == v for k, v in labels.items())
        ]


class Alertmanager(_Server):
    program = ALERTMANAGER
    config_file = "alertmanager.yml"
    storage_flag = "--storage.path"

    def flags(self, extra_args: list[str]) -> list[str]:
        """`extra_args` are the gossip flags of a clustered instance; without them the instance has no
        cluster listener (a single instance, and no second port to collide with)."""
        return [*(extra_args or ["--cluster.listen-address="]), "--log.level=info"]

    def alerts(self, **flags: bool) -> list[dict[str, Any]]:
        """GET /api/v2/alerts; flags: active, silenced, inhibited, unprocessed."""
        params = {k: str(v).lower() for k, v in flags.items()}
        response = self.client.get("/api/v2/alerts", params=params)
        response.raise_for_status()
        return response.json()

    def find(self, alertname: str, **labels: str) -> list[dict[str, Any]]:
        return [
            a
            for a in self.alerts()
            if a["labels"].get("alertname") == alertname
            and all(a["labels"].get(k) == v for k, v in labels.items())
        ]


def grafana_home(binary: str) -> Path:
    """Grafana's install directory (conf/defaults.ini, public/): beside the binary in a tarball, else
    the packages' /usr/share/grafana."""
    for candidate in (Path(binary).resolve().parents[1], Path("/usr/share/grafana")):
        if (candidate / "conf" / "defaults.ini").exists():
            return candidate
    return Path("/usr/share/grafana")


def grafana_argv(binary: str, home: Path) -> list[str]:
    # `grafana server` since Grafana 10; the older `grafana-server` takes the flags directly
    sub = ["server"] if Path(binary).name == "grafana" else []
    return [binary, *sub, f"--homepath={home}"]


def grafana_env(
    workdir: Path, port: int, provisioning: Path, password_file: Path, home_dashboard: Path
) -> dict:
    return {
        "GF_PATHS_DATA": str(workdir / "data"),
        "GF_PATHS_LOGS": str(workdir / "logs"),
        "GF_PATHS_PLUGINS": str(workdir / "plugins"),
        "GF_PATHS_PROVISIONING": str(provisioning),
        "GF_SERVER_HTTP_ADDR": "127.0.0.1",
        "GF_SERVER_HTTP_PORT": str(port),
        "GF_SECURITY_ADMIN_USER": "admin",
        "GF_SECURITY_ADMIN_PASSWORD__FILE": str(password_file),
        "GF_USERS_ALLOW_SIGN_UP": "false",
        "GF_AUTH_ANONYMOUS_ENABLED": "false",
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
        "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH": str(home_dashboard),
    }
