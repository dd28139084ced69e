"""`smmc stack up` as a newcomer runs it, on this machine without Docker: every service up (Grafana
when installed), every Prometheus target up, a scenario switched on with `smmc stack scenario` reaching
the receiver as an action, SIGTERM stopping every process it started, and a second start reusing the
state directory. Plus the one-line refusals: a taken port, a missing binary."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from smmc.stack.binaries import GRAFANA
from smmc.stack.processes import free_port, smmc_command, wait_for
from smmc.stack.services import SERVICES

pytestmark = pytest.mark.e2e

LOCAL_JOBS = {"smmeplus", "opengate", "cloudera", "receiver", "prometheus", "alertmanager"}


def _port_args(ports: dict[str, int]) -> list[str]:
    return [arg for name, port in ports.items() for arg in ("--port", f"{name}={port}")]


def _smmc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*smmc_command(), *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


class Up:
    """One `smmc stack up` in the background, its output in a file."""

    def __init__(self, workdir: Path, ports: dict[str, int], log: Path) -> None:
        self.log = log
        argv = [
            *smmc_command(),
            "stack",
            "up",
            "--dir",
            str(workdir),
            "--meters",
            "60",
            "--day-seconds",
            "4",
            "--time-scale",
            "1800",
            *_port_args(ports),
        ]
        with open(log, "w") as out:
            self.popen = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> str:
        def ready() -> bool:
            if self.popen.poll() is not None:
                raise AssertionError(f"smmc stack up exited {self.popen.returncode}:\n{self.output()}")
            return "ready in" in self.output()

        wait_for(ready, 240, "smmc stack up to be ready", interval=0.5)
        return self.output()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, sig)
        try:
            return self.popen.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            raise


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


@pytest.fixture
def ports() -> dict[str, int]:
    return {s.name: free_port() for s in SERVICES}


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "stack-state"
    yield directory
    # whatever happened, nothing started from this directory may outlive the test
    for line in _processes_mentioning(str(directory)):
        pid = int(line.split(":", 1)[0])
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


def test_stack_up_runs_everything_a_scenario_reaches_the_receiver_and_sigterm_leaves_nothing(
    tmp_path: Path, workdir: Path, ports: dict[str, int]
) -> None:
    up = Up(workdir, ports, tmp_path / "up.log")
    try:
        out = up.wait_ready()
        expected = [s.name for s in SERVICES if s.name != "grafana" or GRAFANA.find()]
        for name in expected:
            assert f"{name:<14} up at http://127.0.0.1:{ports[name]}" in out, out
        assert "simulator      day 0 written" in out
        if GRAFANA.find() is None:
            assert "grafana not found on PATH" in out and "apt-get install grafana" in out
        assert out.count("generated receiver webhook token") == 1
        token = (workdir / "secrets" / "receiver-token").read_text()
        assert f"generated receiver webhook token (shown once; kept in {workdir}" in out and token in out

        prometheus = f"http://127.0.0.1:{ports['prometheus']}"

        def targets_up() -> bool:
            body = httpx.get(f"{prometheus}/api/v1/targets", timeout=5).json()
            active = body["data"]["activeTargets"]
            return {t["labels"]["job"] for t in active} == LOCAL_JOBS and all(
                t["health"] == "up" for t in active
            )

        wait_for(targets_up, 60, "every Prometheus target up")

        status = _smmc("stack", "status", "--dir", str(workdir))
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"{len(expected) + 1} of {len(expected) + 1} up" in status.stdout  # and the simulator
        assert re.search(r"simulator\s+running", status.stdout), status.stdout

        switched = _smmc("stack", "scenario", "grid-outage", "on", "--dir", str(workdir))
        assert switched.returncode == 0, switched.stderr
        assert "grid-outage on" in switched.stdout
        assert (workdir / "sim" / "scenarios").read_text() == "grid-outage\n"

        def outage_notice() -> list[dict]:
            response = httpx.get(
                f"http://127.0.0.1:{ports['receiver']}/api/actions",
                params={"alertname": "GridOutage", "limit": "100"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=5,
            )
            response.raise_for_status()
            return [
                a for a in response.json() if a["action"] == "outage_notice" and a["status"] == "succeeded"
            ]

        actions = wait_for(outage_notice, 180, "the GridOutage outage notice in the receiver")
        assert actions[0]["external_id"]
        children = json.loads((workdir / "stack.json").read_text())["processes"]
        assert set(children) >= {"simulator", "prometheus", "alertmanager", "receiver"}
    finally:
        code = up.stop(signal.SIGTERM)
    assert code == 0, up.output()
    assert "SIGTERM: stopping every service" in up.output()
    for name, pid in children.items():
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text(), name
    assert _processes_mentioning(str(workdir)) == []

    # a second start reuses the state directory: the same secrets (not generated again), the same actions
    again = Up(workdir, ports, tmp_path / "up2.log")
    try:
        out = again.wait_ready()
        assert "generated" not in out
        assert (workdir / "secrets" / "receiver-token").read_text() == token
        assert outage_notice()
    finally:
        assert again.stop(signal.SIGINT) == 0, again.output()
    assert _processes_mentioning(str(workdir)) == []


def test_a_taken_port_is_one_line_naming_the_service_and_the_flag(
    workdir: Path, ports: dict[str, int]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports["alertmanager"]))
        sock.listen()
        result = _smmc("stack", "up", "--dir", str(workdir), *_port_args(ports))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"port {ports['alertmanager']} for alertmanager is taken" in result.stderr
    assert "--port alertmanager=PORT" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert _processes_mentioning(str(workdir)) == []


def test_a_missing_binary_is_one_line_naming_the_packages(workdir: Path, ports: dict[str, int]) -> None:
    # PATH with this interpreter's environment only: no prometheus, no alertmanager
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    result = _smmc("stack", "up", "--dir", str(workdir), *_port_args(ports), env=env)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "prometheus not found on PATH" in result.stderr
    assert "apt-get install prometheus" in result.stderr and "brew install prometheus" in result.stderr
    assert _processes_mentioning(str(workdir)) == []


def test_a_service_failing_at_start_is_one_line_with_its_own_error(
    workdir: Path, ports: dict[str, int]
) -> None:
    env = {**os.environ, "SMMC_JIRA_URL": "jira.example:8080"}  # no scheme: the receiver refuses it
    result = _smmc("stack", "up", "--dir", str(workdir), "--meters", "30", *_port_args(ports), env=env)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "receiver exited (2)" in result.stderr and "$SMMC_JIRA_URL" in result.stderr
    assert f"log: {workdir / 'logs' / 'receiver.log'}" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    children = json.loads((workdir / "stack.json").read_text())["processes"]
    assert "receiver" in children
    for name, pid in children.items():
        assert not Path(f"/proc/{pid}").exists(), name
    assert _processes_mentioning(str(workdir)) == []
