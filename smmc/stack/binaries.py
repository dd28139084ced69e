"""The third-party programs a local stack runs, where to find them, and what to install when missing."""

from __future__ import annotations

from dataclasses import dataclass

from .processes import StackError, find_binary


@dataclass(frozen=True)
class Program:
    what: str
    names: tuple[str, ...]  # looked up on PATH in this order
    debian: str
    elsewhere: str

    def find(self) -> str | None:
        return find_binary(*self.names)

    def missing(self) -> str:
        """One line: what is missing and how to get it."""
        return (
            f"{self.what} not found on PATH (looked for {', '.join(self.names)}): "
            f"on Debian/Ubuntu `{self.debian}`; elsewhere {self.elsewhere}"
        )

    def require(self) -> str:
        path = self.find()
        if path is None:
            raise MissingProgram(self.missing())
        return path


class MissingProgram(StackError):
    pass


PROMETHEUS = Program(
    "prometheus",
    ("prometheus",),
    "sudo apt-get install prometheus",
    "`brew install prometheus` or the release tarball from https://prometheus.io/download/",
)
# Debian names the binary prometheus-alertmanager; upstream tarballs and images name it alertmanager
ALERTMANAGER = Program(
    "alertmanager",
    ("prometheus-alertmanager", "alertmanager"),
    "sudo apt-get install prometheus-alertmanager",
    "`brew install alertmanager` or the release tarball from https://prometheus.io/download/#alertmanager",
)
GRAFANA = Program(
    "grafana",
    ("grafana", "grafana-server"),
    "sudo apt-get install grafana (from Grafana's APT repository, https://apt.grafana.com)",
    "`brew install grafana` or https://grafana.com/grafana/download",
)
