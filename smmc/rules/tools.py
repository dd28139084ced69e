"""The Prometheus tools the checks run: promtool, amtool and Alertmanager (Debian or upstream names)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


class ToolMissing(RuntimeError):
    pass


def find(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise ToolMissing(
        f"none of {', '.join(names)} is on PATH (Debian: apt-get install prometheus prometheus-alertmanager)"
    )


def promtool() -> str:
    return find("promtool")


def amtool() -> str:
    return find("amtool")


def alertmanager() -> str:
    return find("prometheus-alertmanager", "alertmanager")


def run(args: list[str], cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
