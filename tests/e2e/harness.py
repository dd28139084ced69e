"""End-to-end harness: the product's launcher pieces (smmc.stack) with the tests' defaults.

The processes, the waiting, the Prometheus and Alertmanager processes and the configuration rewriting
live in `smmc.stack` (one launcher for `smmc stack up` and the tests). What is the tests' own: the
timers they shorten by default (scrape and evaluation every second, Alertmanager's grouping 1 s / 2 s,
alerts re-sent every second), and the paths of the repository's files.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from smmc.stack import config as _config
from smmc.stack.binaries import ALERTMANAGER, PROMETHEUS
from smmc.stack.config import load_yaml, write_yaml
from smmc.stack.processes import (
    Process,
    ProcessGroup,
    StackError,
    find_binary,
    free_port,
    smmc_command,
    wait_for,
    wait_http_ok,
)
from smmc.stack.servers import Alertmanager
from smmc.stack.servers import Prometheus as _Prometheus

REPO = _config.REPO_ROOT
PROMETHEUS_YML = REPO / _config.PROMETHEUS_YML
ALERTMANAGER_YML = REPO / _config.ALERTMANAGER_YML
HarnessError = StackError

__all__ = [
    "ALERTMANAGER_YML",
    "PROMETHEUS_YML",
    "REPO",
    "Alertmanager",
    "HarnessError",
    "Process",
    "ProcessGroup",
    "Prometheus",
    "alertmanager_binary",
    "find_binary",
    "free_port",
    "load_yaml",
    "prometheus_binary",
    "rewrite_alertmanager_config",
    "rewrite_prometheus_config",
    "serve_exposition",
    "smmc_command",
    "wait_for",
    "wait_http_ok",
    "write_yaml",
]


def prometheus_binary() -> str | None:
    return PROMETHEUS.find()


def alertmanager_binary() -> str | None:
    return ALERTMANAGER.find()


class Prometheus(_Prometheus):
    """A Prometheus that re-sends firing alerts every second (the default minute would outlast a wait)."""

    def flags(self, extra_args: list[str]) -> list[str]:
        return super().flags(["--rules.alert.resend-delay=1s", *extra_args])


def rewrite_prometheus_config(
    config: Mapping[str, Any],
    targets: Mapping[str, str],
    rule_files: Iterable[str | Path],
    alertmanager: str,
    interval: str = "1s",
) -> tuple[dict[str, Any], list[str]]:
    return _config.rewrite_prometheus_config(config, targets, rule_files, alertmanager, interval)


def rewrite_alertmanager_config(
    config: Mapping[str, Any],
    receiver_address: str,
    token_file: Path,
    config_dir: Path,
    group_wait: str = "1s",
    group_interval: str = "2s",
    repeat_interval: str | None = None,
) -> dict[str, Any]:
    return _config.rewrite_alertmanager_config(
        config, receiver_address, token_file, config_dir, group_wait, group_interval, repeat_interval
    )


def serve_exposition(body: Callable[[], bytes]) -> ThreadingHTTPServer:
    """A scrape target on a free 127.0.0.1 port answering every GET with `body()` (called per scrape).
    Stop it with `shutdown()` and `server_close()`."""

    class Target(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            text = body()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Target)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
