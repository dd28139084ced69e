"""End-to-end harness: real Prometheus and Alertmanager processes on 127.0.0.1 with the repository's own
configuration, the project's services as `smmc ...` subprocesses, and clients to watch them.

Nothing here knows a scenario. The harness
- rewrites only what must differ on a test machine: the scrape targets (local free ports), the
  intervals (seconds, not minutes), the rule files (regenerated with short `for:` durations through
  the rules generator), the webhook host and the token file of Alertmanager, Alertmanager's grouping
  timers. Everything else (jobs, honor_labels, routes, inhibitions, receivers) is the repository's;
- starts every process in its own process group with its output in a log file, and stops every group
  it started (SIGTERM, then SIGKILL), whatever happened, when the stack is closed;
- offers `wait_for(predicate)` that fails with what it last saw and the tails of the logs.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
import yaml

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_YML = REPO / "prometheus" / "prometheus.yml"
ALERTMANAGER_YML = REPO / "alertmanager" / "alertmanager.yml"

T = TypeVar("T")


class HarnessError(AssertionError):
    """A process did not start, or a condition was not met in time. Carries the evidence."""


def find_binary(*names: str) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def prometheus_binary() -> str | None:
    return find_binary("prometheus")


def alertmanager_binary() -> str | None:
    # Debian names the binary prometheus-alertmanager; upstream tarballs and images name it alertmanager
    return find_binary("prometheus-alertmanager", "alertmanager")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def smmc_command() -> list[str]:
    """The `smmc` console script of this interpreter's environment (or `python -m smmc.cli`)."""
    script = Path(sys.executable).with_name("smmc")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "smmc.cli"]


# ---------------------------------------------------------------------------------------------------
# processes


@dataclass
class Process:
    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes]

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL after `timeout`."""
        if self.popen.poll() is not None:
            self._reap_group()
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=timeout)
        self._reap_group()

    def _reap_group(self) -> None:
        # children of the leader (uvicorn workers, ...) may outlive it: the group id is the leader's pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, SIGKILL it if the test process dies without cleaning up
    (a SIGKILLed pytest runs no finalizer)."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class ProcessGroup:
    """Every process the harness started; `close()` stops them all in reverse order."""

    workdir: Path
    processes: list[Process] = field(default_factory=list)

    def spawn(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Process:
        log_path = self.workdir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        # new counter series are scraped at 0 first, held for the scrape interval (1 s here, 30 s in prod)
        full_env.setdefault("SMMC_NEW_COUNTER_HOLD_SECONDS", "2")
        with open(log_path, "ab") as log:
            log.write(f"$ {' '.join(argv)}\n".encode())
            log.flush()
            popen = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=full_env,
                cwd=str(cwd or self.workdir),
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        process = Process(name, argv, log_path, popen)
        self.processes.append(process)
        return process

    def get(self, name: str) -> Process:
        for process in self.processes:
            if process.name == name:
                return process
        raise KeyError(name)

    def logs(self, lines: int = 25) -> str:
        parts = []
        for process in self.processes:
            state = "running" if process.alive else f"exited {process.popen.returncode}"
            parts.append(f"--- {process.name} ({state}): {process.log_path}\n{process.tail(lines)}")
        return "\n".join(parts)

    def close(self) -> None:
        errors = []
        for process in reversed(self.processes):
            try:
                process.stop()
            except Exception as exc:  # keep stopping the others
                errors.append(f"{process.name}: {exc}")
        if errors:
            raise HarnessError("could not stop: " + "; ".join(errors))


def wait_for(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float = 0.5,
    processes: ProcessGroup | None = None,
) -> T:
    """Call `check` until it returns a truthy value; fail after `timeout` with the last value or error."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = check()
            if value:
                return value
            last = value
        except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
            last = exc
        if processes is not None:
            dead = [p for p in processes.processes if not p.alive and p.popen.returncode not in (0, None)]
            if dead:
                raise HarnessError(
                    f"while waiting for {what}: {', '.join(p.name for p in dead)} died\n{processes.logs()}"
                )
        if time.monotonic() >= deadline:
            logs = f"\n{processes.logs()}" if processes is not None else ""
            raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}{logs}")
        time.sleep(interval)


def wait_http_ok(url: str, timeout: float, processes: ProcessGroup | None = None) -> None:
    def ok() -> bool:
        return httpx.get(url, timeout=2.0).status_code == 200

    wait_for(ok, timeout, f"{url} to answer 200", interval=0.2, processes=processes)


# ---------------------------------------------------------------------------------------------------
# configuration rewriting (pure functions: tested without starting anything)


def load_yaml(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    return data


def rewrite_prometheus_config(
    config: Mapping[str, Any],
    targets: Mapping[str, str],
    rule_files: Iterable[str],
    alertmanager: str,
    interval: str = "1s",
) -> tuple[dict[str, Any], list[str]]:
    """The repository's prometheus.yml for a local run.

    `targets` maps a job name to its local host:port; jobs without one (Grafana, the optional Azure
    exporter) are dropped and returned, so a caller can assert that only the intended ones were.
    Everything else of a job (metrics_path, params, honor_labels, relabelling) is kept.
    """
    out = copy.deepcopy(dict(config))
    glob = dict(out.get("global") or {})
    glob["scrape_interval"] = interval
    glob["evaluation_interval"] = interval
    glob["scrape_timeout"] = interval
    out["global"] = glob
    out["rule_files"] = [str(p) for p in rule_files]
    alerting = out.get("alerting") or {}
    managers = alerting.get("alertmanagers") or [{}]
    for manager in managers:
        manager["static_configs"] = [{"targets": [alertmanager]}]
        manager.pop("dns_sd_configs", None)
        manager.pop("file_sd_configs", None)
    out["alerting"] = {**alerting, "alertmanagers": managers}
    kept, dropped = [], []
    for job in out.get("scrape_configs") or []:
        name = job["job_name"]
        if name not in targets:
            dropped.append(name)
            continue
        job = dict(job)
        job["static_configs"] = [{"targets": [targets[name]]}]
        for key in ("scrape_interval", "scrape_timeout"):
            job.pop(key, None)
        kept.append(job)
    out["scrape_configs"] = kept
    return out, dropped


def _rewrite_url_host(url: str, address: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("http", address, parts.path, parts.query, parts.fragment))


# docker-compose.yml mounts the repository's alertmanager/ directory at this path
ALERTMANAGER_CONTAINER_DIR = "/etc/alertmanager/"


def _local_path(path: str, config_dir: Path) -> str:
    """A path of the config as seen in the container (or relative to the file) -> the repository's file."""
    if path.startswith(ALERTMANAGER_CONTAINER_DIR):
        return str(config_dir / path[len(ALERTMANAGER_CONTAINER_DIR) :])
    return path if os.path.isabs(path) else str((config_dir / path).resolve())


def rewrite_alertmanager_config(
    config: Mapping[str, Any],
    receiver_address: str,
    token_file: Path,
    config_dir: Path,
    group_wait: str = "1s",
    group_interval: str = "2s",
    repeat_interval: str | None = None,
) -> dict[str, Any]:
    """The repository's alertmanager.yml for a local run.

    Every webhook's host becomes the local receiver (its path is kept), every bearer credential file
    becomes `token_file`, template globs point at the repository's files (they are written as compose
    mounts them, or relative to the original file), and
    the grouping timers of every route that sets them are shortened. Routes, matchers, inhibitions,
    receivers and time intervals are the repository's.
    """
    out = copy.deepcopy(dict(config))
    for receiver in out.get("receivers") or []:
        for hook in receiver.get("webhook_configs") or []:
            if "url" in hook:
                hook["url"] = _rewrite_url_host(hook["url"], receiver_address)
            if "url_file" in hook:
                raise ValueError("webhook url_file is not supported by the harness")
            http = hook.get("http_config") or {}
            auth = http.get("authorization")
            if auth is not None:
                auth.pop("credentials", None)
                auth["credentials_file"] = str(token_file)
            if http:
                hook["http_config"] = http
    out["templates"] = [_local_path(t, config_dir) for t in out.get("templates") or []]

    def shorten(route: dict[str, Any], is_root: bool) -> None:
        if is_root or "group_wait" in route:
            route["group_wait"] = group_wait
        if is_root or "group_interval" in route:
            route["group_interval"] = group_interval
        if repeat_interval is not None and (is_root or "repeat_interval" in route):
            route["repeat_interval"] = repeat_interval
        for child in route.get("routes") or []:
            shorten(child, False)

    if "route" in out:
        shorten(out["route"], True)
    return out


def write_yaml(path: Path, data: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(data), sort_keys=False), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------
# Prometheus and Alertmanager


class Prometheus:
    def __init__(
        self,
        group: ProcessGroup,
        config: Mapping[str, Any],
        name: str = "prometheus",
        port: int | None = None,
    ) -> None:
        binary = prometheus_binary()
        if binary is None:
            raise HarnessError("prometheus binary not found (Debian: apt-get install prometheus)")
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"
        workdir = group.workdir / name
        self.config_path = write_yaml(workdir / "prometheus.yml", config)
        self.process = group.spawn(
            name,
            [
                binary,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address={self.address}",
                f"--web.external-url={self.url}/",
                "--web.enable-lifecycle",
                # alerts are re-sent to Alertmanager every minute by default; the test waits seconds
                "--rules.alert.resend-delay=1s",
                "--log.level=info",
            ],
        )
        self.group = group
        self.client = httpx.Client(base_url=self.url, timeout=10.0)

    def wait_ready(self, timeout: float = 60) -> None:
        wait_http_ok(f"{self.url}/-/ready", timeout, self.group)

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

    def close(self) -> None:
        self.client.close()


class Alertmanager:
    def __init__(
        self,
        group: ProcessGroup,
        config: Mapping[str, Any],
        name: str = "alertmanager",
        port: int | None = None,
        cluster_args: Iterable[str] = (),
    ) -> None:
        """`cluster_args` are the gossip flags of a clustered instance; without them the instance has
        no cluster listener (a single instance, and no second port to collide with other test runs)."""
        binary = alertmanager_binary()
        if binary is None:
            raise HarnessError(
                "alertmanager binary not found (Debian: apt-get install prometheus-alertmanager)"
            )
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"
        workdir = group.workdir / name
        self.config_path = write_yaml(workdir / "alertmanager.yml", config)
        self.process = group.spawn(
            name,
            [
                binary,
                f"--config.file={self.config_path}",
                f"--storage.path={workdir / 'data'}",
                f"--web.listen-address={self.address}",
                f"--web.external-url={self.url}/",
                *(cluster_args or ["--cluster.listen-address="]),
                "--log.level=info",
            ],
        )
        self.group = group
        self.client = httpx.Client(base_url=self.url, timeout=10.0)

    def wait_ready(self, timeout: float = 60) -> None:
        wait_http_ok(f"{self.url}/-/ready", timeout, self.group)

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

    def close(self) -> None:
        self.client.close()


def dump_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str), encoding="utf-8")
