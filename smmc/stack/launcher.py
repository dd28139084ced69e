"""The whole stack as local processes: the source (the simulator, or real sources), the fakes, the three
exporters, the receiver, Prometheus, Alertmanager and, when installed, Grafana.

One launcher for `smmc stack up` and the end-to-end tests. What differs between them is passed in: the
ports (documented defaults, or free ones), the timing (the repository's, or compressed), and the
source (the simulator as a subprocess, real sources from the env file, or a source the caller writes
itself). The product never imports the simulator: it runs `smmc simulate utility` and reads the
directory layout that command documents.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from smmc.dashboards import HOME_DASHBOARD

from . import config as cfg
from .binaries import ALERTMANAGER, GRAFANA, PROMETHEUS
from .credentials import Secret, ensure_secret
from .processes import (
    Process,
    ProcessGroup,
    smmc_command,
    wait_http_ok,
)
from .servers import (
    Alertmanager,
    Prometheus,
    grafana_argv,
    grafana_env,
    grafana_home,
)
from .services import JOB_SERVICE, SERVICES, SPECS, Service, check_ports
from .sources import Source, SourcePaths

STATE_FILE = "stack.json"
# the env file's variables a child process gets; the stack's own secrets go to files (ensure_secret)
PASSED_ENV = ("SMMC_",)
NOT_PASSED_ENV = frozenset({"SMMC_RECEIVER_TOKEN", "SMMC_CLOUDERA_CM_PASSWORD"})


@dataclass(frozen=True)
class Timing:
    """How fast the stack runs. The default is the repository's; `compressed(N)` divides every rule's
    `for:` by N (1800: an hour of production time is two seconds) and shortens intervals and timers."""

    time_scale: float = 1.0
    scrape_interval: str | None = None  # None: prometheus.yml's
    group_wait: str | None = None  # None: alertmanager.yml's
    group_interval: str | None = None
    repeat_interval: str | None = None
    resend_delay: str | None = None  # Prometheus --rules.alert.resend-delay
    poll_interval: str = "60s"  # OpenGate and Cloudera exporters
    scan_interval: str = "2"  # SMMePlus inbox scans (seconds)
    settle_seconds: str = "2"
    incomplete_grace_seconds: str | None = None  # None: the exporter's default (5 minutes)
    # how long an exporter shows a new counter series at 0 before its value (None: the exporters' default,
    # two production scrape intervals); compressed stacks scrape every second
    new_counter_hold_seconds: str | None = None

    @classmethod
    def compressed(cls, scale: float) -> Timing:
        return cls(
            time_scale=scale,
            scrape_interval="1s",
            group_wait="1s",
            group_interval="2s",
            resend_delay="1s",
            poll_interval="1s",
            scan_interval="0.5",
            settle_seconds="0.5",
            incomplete_grace_seconds="2",
            new_counter_hold_seconds="2",
        )


@dataclass
class LocalStack:
    """Start with `start()`, stop with `close()` (every process group, whatever happened)."""

    workdir: Path
    ports: Mapping[str, int]
    source: Source
    timing: Timing = field(default_factory=Timing)
    root: Path = cfg.REPO_ROOT
    env: Mapping[str, str] = field(default_factory=dict)  # the env file's variables (real sources, tokens)
    grafana: bool | None = None  # None: when a Grafana binary is installed
    start_timeout: float = 120.0
    on_progress: Callable[[str, str], None] = lambda name, text: None
    check_ports_free: bool = True
    group: ProcessGroup = field(init=False)
    services: dict[str, Service] = field(init=False)
    secrets: dict[str, Secret] = field(init=False, default_factory=dict)
    prometheus: Prometheus | None = field(init=False, default=None)
    alertmanager: Alertmanager | None = field(init=False, default=None)
    paths: SourcePaths | None = field(init=False, default=None)
    dropped_jobs: list[str] = field(init=False, default_factory=list)
    grafana_note: str = field(init=False, default="")
    died: list[Process] = field(init=False, default_factory=list)  # what failed a start

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.group = ProcessGroup(self.workdir)
        self.services = {name: Service(name, port) for name, port in self.ports.items()}

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self.died = self.group.dead()  # before close() stops the others
            self.close()
            raise
        return self

    def close(self) -> None:
        for client in (self.prometheus, self.alertmanager):
            if client is not None:
                client.close()
        try:
            self.group.close()
        finally:
            self._write_state(running=False)

    # -- helpers --------------------------------------------------------------------------------------

    def progress(self, name: str, text: str) -> None:
        self.on_progress(name, text)

    def spawn_smmc(self, name: str, args: list[str], env: Mapping[str, str] | None = None) -> None:
        """An `smmc` child with the env file's variables (as compose hands `.env` to its services):
        each command reads its own, e.g. SMMC_CLOUDERA_TOKEN; what the command line sets wins."""
        passed = {
            k: v
            for k, v in self.env.items()
            if k.startswith(PASSED_ENV) and k not in NOT_PASSED_ENV and v != ""
        }
        self.group.spawn(name, [*smmc_command(), *args], env={**passed, **(env or {})}, cwd=self.root)

    def url(self, name: str) -> str:
        return self.services[name].url

    @property
    def token(self) -> str:
        return self.secrets["receiver-token"].value

    def _wait_healthy(self, name: str, started: float) -> None:
        spec = SPECS[name]
        url = f"{self.url(name)}{spec.health}"
        wait_http_ok(url, self.start_timeout, self.group, what=f"{name} at {url}")
        self.progress(name, f"up at {self.url(name)} ({time.monotonic() - started:.1f} s)")

    def _use_grafana(self) -> str | None:
        if self.grafana is False:
            self.grafana_note = "not started (--no-grafana)"
            return None
        binary = GRAFANA.find()
        if binary is None:
            if self.grafana:
                GRAFANA.require()
            self.grafana_note = f"not started: {GRAFANA.missing()}"
            return None
        return binary

    # -- the start sequence ---------------------------------------------------------------------------

    def _start(self) -> None:
        started = time.monotonic()
        # missing programs and taken ports are found before anything starts
        PROMETHEUS.require()
        ALERTMANAGER.require()
        grafana_binary = self._use_grafana()
        wanted = [s.name for s in SERVICES if s.name != "grafana" or grafana_binary]
        if self.check_ports_free:
            check_ports(self.ports, wanted)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._make_secrets()
        self._write_state(running=True)

        self.spawn_smmc("fake-jira", ["fake", "jira", "--listen", self.services["fake-jira"].address])
        self.spawn_smmc(
            "fake-smmeplus", ["fake", "smmeplus", "--listen", self.services["fake-smmeplus"].address]
        )
        self.paths = paths = self.source.start(self)
        fake_og = ["fake", "opengate", "--listen", self.services["fake-opengate"].address]
        if paths.fleet is not None and paths.fleet.exists():
            fake_og += ["--fleet", str(paths.fleet)]
        self.spawn_smmc(
            "fake-opengate", fake_og, env={"OPENGATE_API_KEY": self.secrets["opengate_api_key"].value}
        )
        fake_cm = [
            "fake",
            "cloudera",
            "--listen",
            self.services["fake-cloudera"].address,
            "--user",
            "monitor",
        ]
        fake_cm += ["--password-file", str(self.secrets["cloudera_cm_password"].path)]
        self.spawn_smmc("fake-cloudera", fake_cm)
        self._start_exporters(paths)
        self._start_receiver()
        for name in (
            "fake-jira",
            "fake-smmeplus",
            "fake-opengate",
            "fake-cloudera",
            "smmeplus",
            "opengate",
            "cloudera",
            "receiver",
        ):
            self._wait_healthy(name, started)

        self._start_alerting(started)
        if grafana_binary:
            self._start_grafana(grafana_binary, started)
        self._write_state(running=True)

    def _make_secrets(self) -> None:
        directory = self.workdir / "secrets"
        for name, variable, what in (
            ("receiver-token", "SMMC_RECEIVER_TOKEN", "receiver webhook token"),
            ("opengate_api_key", "OPENGATE_API_KEY", "OpenGate API key"),
            ("grafana_admin_password", "GRAFANA_ADMIN_PASSWORD", "Grafana admin password (user admin)"),
            ("cloudera_cm_password", "SMMC_CLOUDERA_CM_PASSWORD", "Cloudera Manager API password"),
        ):
            self.secrets[name] = ensure_secret(directory, name, self.env.get(variable), what)

    def _start_exporters(self, paths: SourcePaths) -> None:
        s = self.services
        t = self.timing
        hold = {"SMMC_NEW_COUNTER_HOLD_SECONDS": t.new_counter_hold_seconds or ""}
        hold = {k: v for k, v in hold.items() if v}
        smmeplus = [
            "exporter",
            "smmeplus",
            "--inbox",
            str(paths.inbox),
            "--state-dir",
            str(self.workdir / "smmeplus-state"),
            "--listen",
            s["smmeplus"].address,
            "--scan-interval",
            t.scan_interval,
            "--settle-seconds",
            t.settle_seconds,
        ]
        if t.incomplete_grace_seconds is not None:
            smmeplus += ["--incomplete-grace-seconds", t.incomplete_grace_seconds]
        if paths.inventory is not None:
            smmeplus += ["--inventory", str(paths.inventory)]
        self.spawn_smmc("smmeplus", smmeplus, hold)
        self.spawn_smmc(
            "opengate",
            [
                "exporter",
                "opengate",
                "--url",
                paths.opengate_url or s["fake-opengate"].url,
                "--organization",
                paths.organization,
                "--interval",
                t.poll_interval,
                "--api-key-file",
                str(self.secrets["opengate_api_key"].path),
                "--listen",
                s["opengate"].address,
            ],
            hold,
        )
        cloudera = ["exporter", "cloudera", "--report", paths.report, "--listen", s["cloudera"].address]
        cloudera += ["--interval", t.poll_interval]
        if paths.schedule is not None:
            cloudera += ["--schedule", str(paths.schedule)]
        # the data lake's resources: the env file's Cloudera Manager, else the fake
        cloudera += ["--cm-url", self.env.get("SMMC_CLOUDERA_CM_URL") or s["fake-cloudera"].url]
        cloudera += ["--cm-user", self.env.get("SMMC_CLOUDERA_CM_USER") or "monitor"]
        cloudera += ["--cm-password-file", str(self.secrets["cloudera_cm_password"].path)]
        cloudera += ["--cm-interval", t.poll_interval]
        self.spawn_smmc("cloudera", cloudera, hold)

    def _start_receiver(self) -> None:
        s = self.services
        # the real systems when the env file names them, else the fakes
        env = {
            "SMMC_JIRA_URL": self.env.get("SMMC_JIRA_URL") or s["fake-jira"].url,
            "SMMC_SMMEPLUS_URL": self.env.get("SMMC_SMMEPLUS_URL") or s["fake-smmeplus"].url,
            "SMMC_JIRA_TOKEN": self.env.get("SMMC_JIRA_TOKEN") or "local-fake-jira-token",
            "SMMC_SMMEPLUS_TOKEN": self.env.get("SMMC_SMMEPLUS_TOKEN") or "local-fake-smmeplus-token",
        }
        for name in ("SMMC_JIRA_USER", "SMMC_NOC_CHAT_WEBHOOK_URL"):
            if self.env.get(name):
                env[name] = self.env[name]
        actions = self.root / cfg.ACTIONS_YML
        if self.timing.time_scale != 1:
            scale = self.timing.time_scale
            actions = cfg.render_actions(actions, self.workdir / "receiver" / "actions.yml", scale)
        self.spawn_smmc(
            "receiver",
            [
                "receiver",
                "--config",
                str(actions),
                "--db",
                f"sqlite:///{self.workdir / 'receiver.sqlite'}",
                "--listen",
                s["receiver"].address,
                "--token-file",
                str(self.secrets["receiver-token"].path),
            ],
            env=env,
        )

    def _start_alerting(self, started: float) -> None:
        s = self.services
        t = self.timing
        rule_files = cfg.generate_rules(self.workdir / "rules", t.time_scale, self.root)
        am_config = cfg.rewrite_alertmanager_config(
            cfg.load_yaml(self.root / cfg.ALERTMANAGER_YML),
            s["receiver"].address,
            self.secrets["receiver-token"].path,
            (self.root / cfg.ALERTMANAGER_YML).parent,
            group_wait=t.group_wait,
            group_interval=t.group_interval,
            repeat_interval=t.repeat_interval,
        )
        self.alertmanager = Alertmanager(self.group, am_config, port=s["alertmanager"].port)
        targets = {
            job: s[service].address
            for job, service in JOB_SERVICE.items()
            if service != "grafana" or self.grafana_note == ""
        }
        prom_config, self.dropped_jobs = cfg.rewrite_prometheus_config(
            cfg.load_yaml(self.root / cfg.PROMETHEUS_YML),
            targets,
            rule_files,
            self.alertmanager.address,
            interval=t.scrape_interval,
        )
        extra = [f"--rules.alert.resend-delay={t.resend_delay}"] if t.resend_delay else []
        self.prometheus = Prometheus(self.group, prom_config, port=s["prometheus"].port, extra_args=extra)
        self._wait_healthy("alertmanager", started)
        self._wait_healthy("prometheus", started)

    def _start_grafana(self, binary: str, started: float) -> None:
        workdir = self.workdir / "grafana"
        provisioning = cfg.render_grafana_provisioning(
            self.root / cfg.GRAFANA_PROVISIONING,
            workdir / "provisioning",
            self.url("prometheus"),
            self.root / cfg.GRAFANA_DASHBOARDS,
        )
        env = grafana_env(
            workdir,
            self.services["grafana"].port,
            provisioning,
            self.secrets["grafana_admin_password"].path,
            self.root / cfg.GRAFANA_DASHBOARDS / HOME_DASHBOARD,
        )
        home = grafana_home(binary)
        self.group.spawn("grafana", grafana_argv(binary, home), env=env, cwd=home)
        self._wait_healthy("grafana", started)

    # -- state (for `smmc stack status` and a second start) -------------------------------------------

    def running_services(self) -> list[str]:
        names = [p.name for p in self.group.processes]
        return [n for n in SPECS if n in names]

    def _write_state(self, running: bool) -> None:
        if not self.workdir.exists():
            return
        state = {
            "pid": os.getpid() if running else None,
            "root": str(self.root),
            "services": {
                name: {"url": self.url(name), "health": SPECS[name].health}
                for name in self.running_services()
            },
            "simulator": str(self.workdir / "sim") if self.source.name == "simulator" else None,
            "day_seconds": getattr(self.source, "day_seconds", None),
            "processes": {p.name: p.popen.pid for p in self.group.processes},
        }
        tmp = self.workdir / f".{STATE_FILE}.part"
        tmp.write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.workdir / STATE_FILE)

    # -- clients (demo and tests) ---------------------------------------------------------------------

    def receiver_actions(self, **filters: str) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.url('receiver')}/api/actions",
            params={"limit": "10000", **filters},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def jira_issues(self) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url('fake-jira')}/_fake/issues", timeout=10)
        response.raise_for_status()
        return response.json()

    def smmeplus_commands(self) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url('fake-smmeplus')}/_fake/commands", timeout=10)
        response.raise_for_status()
        return response.json()


def read_state(workdir: Path) -> dict[str, Any] | None:
    path = Path(workdir) / STATE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
