"""Smoke test of the compose stack, where a Docker daemon and the Compose v2 plugin exist: `docker compose
up` on simulated data, every service healthy, Prometheus with its targets up, Grafana listing the Control
Room dashboards, an alert reaching the receiver. Builds the image and pulls the pinned ones: minutes.

It runs in its own compose project name with random host ports, and removes the project (containers,
network, volumes) whatever happens.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]


def _daemon_problem() -> str | None:
    try:
        import docker
    except ImportError as exc:  # the test extra installs it
        return f"the docker Python package is not installed ({exc})"
    try:
        client = docker.from_env()
        client.ping()
        client.close()
    except Exception as exc:
        return f"no Docker daemon reachable here ({type(exc).__name__}: {exc})"
    if shutil.which("docker") is None:
        return "the docker command line (with Compose v2) is not installed"
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        return "the Docker Compose v2 plugin (`docker compose`) is not installed"
    return None


PROBLEM = _daemon_problem()
pytestmark = pytest.mark.skipif(
    PROBLEM is not None, reason=f"compose smoke test skipped: {PROBLEM}; tests/test_compose.py lints the file"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _compose(project: str, env: dict[str, str], *args: str, timeout: float = 900) -> str:
    result = subprocess.run(
        ["docker", "compose", "-p", project, "-f", str(REPO / "docker-compose.yml"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise AssertionError(f"docker compose {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@pytest.fixture(scope="module")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    project = f"smmc-smoke-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(16)
    token = secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "GRAFANA_ADMIN_PASSWORD": password,
        "SMMC_RECEIVER_TOKEN": token,
        "SMMC_SIM_METERS": "300",
        "SMMC_SIM_DAY_SECONDS": "30",
        "SMMC_SIM_SCENARIOS": "grid-outage",
        "SMMC_SIM_START_DATE": "2026-03-02",  # a pinned simulated calendar, as every test's
        "SMMC_OPENGATE_INTERVAL": "10s",
    }
    # the compose file publishes fixed ports; a smoke run must not collide with a stack already running
    override = tmp_path_factory.mktemp("compose") / "ports.yml"
    ports = {name: _free_port() for name in ("grafana", "prometheus", "alertmanager", "receiver")}
    inner = {"grafana": 3000, "prometheus": 9090, "alertmanager": 9093, "receiver": 9820}
    # compose concatenates `ports` across files; `!override` (Compose >= 2.24) replaces them
    override.write_text(
        "services:\n"
        + "".join(
            f'  {name}:\n    ports: !override ["127.0.0.1:{ports[name]}:{inner[name]}"]\n'
            for name in ("grafana", "prometheus", "alertmanager", "receiver")
        )
    )
    base = ["-f", str(override)]  # after the project's file (added by _compose): its ports win
    try:
        _compose(project, env, *base, "up", "-d", "--build", "--wait")
        yield {
            "grafana": f"http://127.0.0.1:{ports['grafana']}",
            "prometheus": f"http://127.0.0.1:{ports['prometheus']}",
            "alertmanager": f"http://127.0.0.1:{ports['alertmanager']}",
            "receiver": f"http://127.0.0.1:{ports['receiver']}",
            "password": password,
            "token": token,
        }
    finally:
        subprocess.run(
            ["docker", "compose", "-p", project, "-f", str(REPO / "docker-compose.yml"), "down", "-v"],
            cwd=REPO,
            env=env,
            capture_output=True,
            timeout=300,
        )


def _eventually(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
            last = value
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(3)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def test_prometheus_scrapes_every_service(running_stack: dict[str, str]) -> None:
    def targets() -> list[dict]:
        body = httpx.get(f"{running_stack['prometheus']}/api/v1/targets", timeout=10).json()
        active = [t for t in body["data"]["activeTargets"] if t["labels"]["job"] != "azure-eventhub"]
        return active if active and all(t["health"] == "up" for t in active) else []

    up = _eventually(targets, 180, "every Prometheus target up (the Azure profile is off)")
    assert {t["labels"]["job"] for t in up} >= {"smmeplus", "opengate", "cloudera", "receiver", "grafana"}


def test_grafana_lists_the_control_room(running_stack: dict[str, str]) -> None:
    auth = ("admin", running_stack["password"])
    found = _eventually(
        lambda: httpx.get(
            f"{running_stack['grafana']}/api/search", params={"type": "dash-db"}, auth=auth, timeout=10
        ).json(),
        120,
        "Grafana's dashboard search",
    )
    folders = {d.get("folderTitle") for d in found}
    assert "Control Room" in folders
    assert len([d for d in found if d.get("folderTitle") == "Control Room"]) >= 7


def test_an_alert_reaches_the_receiver(running_stack: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {running_stack['token']}"}
    actions = _eventually(
        lambda: httpx.get(f"{running_stack['receiver']}/api/actions", headers=headers, timeout=10).json(),
        600,
        "an action in the receiver (the grid-outage scenario's alert, after Alertmanager's grouping)",
    )
    assert any(a["alertname"] for a in actions)
