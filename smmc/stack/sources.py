"""Where the exporters' data comes from: the simulator as a child process (`smmc simulate utility`,
whose directory layout is documented there), or the real sources an env file names. A caller may give
its own source (the end-to-end tests write the simulated utility in their own process)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .processes import StackError, wait_for

if TYPE_CHECKING:
    from .launcher import LocalStack


@dataclass
class SourcePaths:
    """What the exporters read. `opengate_url` None: the fake OpenGate serving `fleet`."""

    inbox: Path
    inventory: Path | None
    report: str
    schedule: Path | None
    organization: str
    fleet: Path | None = None
    opengate_url: str | None = None


class Source(Protocol):
    """The data the exporters read: written before they start (`start` returns when day 0 is there)."""

    name: str

    def start(self, stack: LocalStack) -> SourcePaths: ...


def simulator_paths(out: Path, organization: str) -> SourcePaths:
    """The directory `smmc simulate utility --out DIR` writes (its module documents the layout)."""
    return SourcePaths(
        inbox=out / "smmeplus" / "inbox",
        inventory=out / "smmeplus" / "inventory",
        report=str(out / "cloudera" / "report.csv"),
        schedule=out / "cloudera" / "jobs.yml",
        organization=organization,
        fleet=out / "opengate" / "fleet.json",
    )


@dataclass
class SimulatorSource:
    """`smmc simulate utility --loop-seconds N` as a child process (the compose stack's `simulator`)."""

    meters: int = 2000
    seed: int = 1
    day_seconds: float = 300.0
    name: str = "simulator"

    def start(self, stack: LocalStack) -> SourcePaths:
        out = stack.workdir / "sim"
        stack.spawn_smmc(
            "simulator",
            [
                "simulate",
                "utility",
                "--out",
                str(out),
                "--meters",
                str(self.meters),
                "--seed",
                str(self.seed),
                "--loop-seconds",
                f"{self.day_seconds:g}",
                "--opengate-fake",
                stack.services["fake-opengate"].url,
            ],
        )
        # healthy once the first day is written (the compose health check tests the same file)
        wait_for(
            lambda: (out / "utility.json").exists(),
            stack.start_timeout,
            "the simulator's first day",
            processes=stack.group,
        )
        stack.progress("simulator", f"day 0 written to {out}")
        fleet = json.loads((out / "opengate" / "fleet.json").read_text(encoding="utf-8"))
        return simulator_paths(out, str(fleet["organization"]))


@dataclass
class RealSources:
    """Real sources, read from the same variables the compose stack's `.env` sets. Paths under /data
    (the compose mount) are taken relative to SMMC_SOURCE_DATA, the host directory compose mounts."""

    env: Mapping[str, str]
    name: str = "real sources"

    def _path(self, key: str) -> str:
        value = self.env.get(key, "").strip()
        if not value:
            raise StackError(f"SMMC_SIMULATOR=off but {key} is not set (the env file names the real sources)")
        data = self.env.get("SMMC_SOURCE_DATA", "").strip()
        if "://" in value:
            return value
        if data and (value == "/data" or value.startswith("/data/")):
            return str(Path(data) / value[len("/data") :].lstrip("/"))
        return value

    def start(self, stack: LocalStack) -> SourcePaths:
        url = self.env.get("SMMC_OPENGATE_URL", "").strip()
        if not url:
            raise StackError("SMMC_SIMULATOR=off but SMMC_OPENGATE_URL is not set")
        paths = SourcePaths(
            inbox=Path(self._path("SMMC_SMMEPLUS_INBOX")),
            inventory=Path(self._path("SMMC_SMMEPLUS_INVENTORY")),
            report=self._path("SMMC_CLOUDERA_REPORT"),  # a URL is kept as it is
            schedule=Path(self._path("SMMC_CLOUDERA_SCHEDULE")),
            organization=self.env.get("SMMC_OPENGATE_ORGANIZATION", "enel_chile"),
            opengate_url=url,
        )
        if not paths.inbox.is_dir():
            raise StackError(f"SMMC_SMMEPLUS_INBOX {paths.inbox} is not a directory")
        return paths
