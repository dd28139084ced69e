"""`smmc stack` (and the end-to-end tests through it) rewrites only what must differ on 127.0.0.1;
everything else is the repository's configuration. Pure functions: nothing is started here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smmc.stack import config as cfg
from smmc.stack.config import (
    load_yaml,
    render_actions,
    render_grafana_provisioning,
    rewrite_alertmanager_config,
    rewrite_prometheus_config,
)
from smmc.stack.credentials import ensure_secret
from smmc.stack.envfile import EnvFileError, parse_env
from smmc.stack.processes import StackError
from smmc.stack.services import SERVICES, check_ports, plan_ports
from smmc.stack.sources import RealSources

PROMETHEUS_YML = cfg.REPO_ROOT / cfg.PROMETHEUS_YML
ALERTMANAGER_YML = cfg.REPO_ROOT / cfg.ALERTMANAGER_YML

LOCAL = {
    "smmeplus": "127.0.0.1:1",
    "opengate": "127.0.0.1:2",
    "cloudera": "127.0.0.1:3",
    "receiver": "127.0.0.1:4",
    "prometheus": "127.0.0.1:5",
    "alertmanager": "127.0.0.1:6",
}


def test_prometheus_rewrite_keeps_jobs_and_options_and_only_moves_targets() -> None:
    repo = load_yaml(PROMETHEUS_YML)
    local, dropped = rewrite_prometheus_config(repo, LOCAL, ["/tmp/r/a.rules.yml"], "127.0.0.1:6", "1s")
    assert sorted(dropped) == ["azure-eventhub", "grafana"]
    jobs = {job["job_name"]: job for job in local["scrape_configs"]}
    assert set(jobs) == set(LOCAL)
    for name, job in jobs.items():
        assert job["static_configs"] == [{"targets": [LOCAL[name]]}]
    assert jobs["cloudera"]["honor_labels"] is True
    assert local["global"]["scrape_interval"] == "1s"
    assert local["global"]["evaluation_interval"] == "1s"
    assert local["global"]["external_labels"] == repo["global"]["external_labels"]
    assert local["rule_files"] == ["/tmp/r/a.rules.yml"]
    assert local["alerting"]["alertmanagers"][0]["static_configs"] == [{"targets": ["127.0.0.1:6"]}]
    # the repository's file is untouched by the rewrite
    assert load_yaml(PROMETHEUS_YML) == repo


def test_prometheus_yml_scrapes_every_service_and_alerts_to_alertmanager() -> None:
    repo = load_yaml(PROMETHEUS_YML)
    jobs = {job["job_name"]: job for job in repo["scrape_configs"]}
    assert {"smmeplus", "opengate", "cloudera", "receiver", "prometheus", "alertmanager", "grafana"} <= set(
        jobs
    )
    assert jobs["cloudera"].get("honor_labels") is True
    assert [t for j in jobs.values() for c in j["static_configs"] for t in c["targets"]]
    assert repo["rule_files"] == ["/etc/prometheus/rules/*.rules.yml"]
    managers = repo["alerting"]["alertmanagers"]
    assert managers[0]["static_configs"][0]["targets"] == ["alertmanager:9093"]


def test_repository_alertmanager_yml_rewrites_to_local_files(tmp_path: Path) -> None:
    repo = load_yaml(ALERTMANAGER_YML)
    token = tmp_path / "token"
    local = rewrite_alertmanager_config(repo, "127.0.0.1:9", token, ALERTMANAGER_YML.parent, "1s", "2s")
    hooks = [h for r in local["receivers"] for h in r.get("webhook_configs") or []]
    assert hooks and all(h["url"].startswith("http://127.0.0.1:9/webhook/") for h in hooks)
    for hook in hooks:
        auth = (hook.get("http_config") or {}).get("authorization")
        if auth:
            assert auth == {"credentials_file": str(token)}
    for pattern in local["templates"]:
        assert list(Path(pattern).parent.glob(Path(pattern).name)), f"no template matches {pattern}"
    assert local["inhibit_rules"] == repo["inhibit_rules"]
    assert local["route"]["group_wait"] == "1s"


def test_alertmanager_rewrite_moves_webhooks_tokens_templates_and_timers(tmp_path: Path) -> None:
    repo = {
        "templates": ["templates/*.tmpl", "/etc/alertmanager/more/*.tmpl"],
        "route": {
            "receiver": "people",
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {"receiver": "actions", "group_wait": "1m", "routes": [{"receiver": "people"}]},
            ],
        },
        "inhibit_rules": [
            {"source_matchers": ["severity=critical"], "target_matchers": ["severity=warning"]}
        ],
        "receivers": [
            {"name": "people"},
            {
                "name": "actions",
                "webhook_configs": [
                    {
                        "url": "http://receiver:9820/alerts/smmc-actions",
                        "send_resolved": True,
                        "http_config": {"authorization": {"credentials_file": "/run/smmc-secrets/t"}},
                    }
                ],
            },
        ],
    }
    token = tmp_path / "token"
    local = rewrite_alertmanager_config(
        repo, "127.0.0.1:7777", token, Path("/repo/alertmanager"), group_wait="1s", group_interval="2s"
    )
    hook = local["receivers"][1]["webhook_configs"][0]
    assert hook["url"] == "http://127.0.0.1:7777/alerts/smmc-actions"
    assert hook["http_config"]["authorization"]["credentials_file"] == str(token)
    assert hook["send_resolved"] is True
    assert local["templates"] == ["/repo/alertmanager/templates/*.tmpl", "/repo/alertmanager/more/*.tmpl"]
    assert local["route"]["group_wait"] == "1s"
    assert local["route"]["group_interval"] == "2s"
    assert local["route"]["repeat_interval"] == "4h"
    child = local["route"]["routes"][0]
    assert child["group_wait"] == "1s"
    assert "group_interval" not in child  # inherited from the root, as in the repository
    assert "group_wait" not in child["routes"][0]
    assert local["inhibit_rules"] == repo["inhibit_rules"]
    assert repo["route"]["group_wait"] == "30s"  # the input is not modified


def test_without_timing_the_repository_intervals_and_timers_are_kept(tmp_path: Path) -> None:
    prom = load_yaml(PROMETHEUS_YML)
    local, _ = rewrite_prometheus_config(prom, LOCAL, [], "127.0.0.1:6")
    assert local["global"] == prom["global"]
    am = load_yaml(ALERTMANAGER_YML)
    local_am = rewrite_alertmanager_config(am, "127.0.0.1:9", tmp_path / "t", ALERTMANAGER_YML.parent)
    assert local_am["route"] == am["route"]


def test_actions_cooldowns_are_compressed_like_the_rules(tmp_path: Path) -> None:
    source = cfg.REPO_ROOT / cfg.ACTIONS_YML
    out = render_actions(source, tmp_path / "actions.yml", 1800)
    repo = load_yaml(source)["action_types"]
    local = load_yaml(out)["action_types"]
    assert repo["smmeplus_command"]["cooldown_seconds"] == 1800
    assert local["smmeplus_command"]["cooldown_seconds"] == 1
    for name, spec in repo.items():
        assert set(local[name]) == set(spec)
        for key, value in spec.items():
            if key == "cooldown_seconds" and value:
                assert local[name][key] == cfg.scaled_for(value, 1800)
            else:
                assert local[name][key] == value, (name, key)


def test_grafana_provisioning_points_at_the_local_prometheus_and_the_repository_dashboards(
    tmp_path: Path,
) -> None:
    source = cfg.REPO_ROOT / cfg.GRAFANA_PROVISIONING
    out = render_grafana_provisioning(
        source, tmp_path / "prov", "http://127.0.0.1:19090", cfg.REPO_ROOT / cfg.GRAFANA_DASHBOARDS
    )
    datasources = [d for p in out.rglob("*.y*ml") for d in (load_yaml(p).get("datasources") or [])]
    assert [d["url"] for d in datasources] == ["http://127.0.0.1:19090"]
    assert datasources[0]["uid"] == "prometheus"
    providers = [p for f in out.rglob("*.y*ml") for p in (load_yaml(f).get("providers") or [])]
    assert [Path(p["options"]["path"]) for p in providers] == [cfg.REPO_ROOT / cfg.GRAFANA_DASHBOARDS]
    assert list((cfg.REPO_ROOT / cfg.GRAFANA_DASHBOARDS).glob("*.json"))


def test_ports_are_the_documented_defaults_shifted_or_overridden() -> None:
    defaults = plan_ports()
    assert defaults["prometheus"] == 9090 and defaults["alertmanager"] == 9093
    assert defaults["grafana"] == 3000 and defaults["receiver"] == 9820
    assert set(defaults) == {s.name for s in SERVICES}
    shifted = plan_ports(100, {"receiver": 5555})
    assert shifted["prometheus"] == 9190 and shifted["receiver"] == 5555
    with pytest.raises(StackError, match="unknown service 'prom'"):
        plan_ports(0, {"prom": 1})
    with pytest.raises(StackError, match="out of range"):
        plan_ports(60000)


def test_a_taken_port_is_one_line_naming_the_service_and_the_flag() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(StackError) as info:
            check_ports({"alertmanager": port}, ["alertmanager"])
    message = str(info.value)
    assert "\n" not in message
    assert f"port {port} for alertmanager is taken" in message
    assert "--port alertmanager=PORT" in message and "--port-offset" in message


def test_secrets_are_generated_once_kept_and_replaced_by_a_given_value(tmp_path: Path) -> None:
    first = ensure_secret(tmp_path / "s", "token", None, "token")
    assert first.generated and len(first.value) >= 24
    assert (tmp_path / "s" / "token").stat().st_mode & 0o777 == 0o600
    again = ensure_secret(tmp_path / "s", "token", None, "token")
    assert not again.generated and again.value == first.value
    given = ensure_secret(tmp_path / "s", "token", "from-env", "token")
    assert given.value == "from-env" and not given.generated
    assert (tmp_path / "s" / "token").read_text() == "from-env"


def test_env_file_parsing() -> None:
    text = "# comment\n\nSMMC_SIMULATOR=off\nexport A='x y'\nB=\"q\"\nC=v # trailing\nD=\n"
    assert parse_env(text) == {"SMMC_SIMULATOR": "off", "A": "x y", "B": "q", "C": "v", "D": ""}
    with pytest.raises(EnvFileError, match=":2:"):
        parse_env("A=1\nnot a line\n", "f")
    example = parse_env((cfg.REPO_ROOT / ".env.example").read_text(encoding="utf-8"))
    assert example["SMMC_SIMULATOR"] == "on" and example["SMMC_SIM_METERS"] == "2000"


def test_real_sources_map_compose_data_paths_to_the_host_directory(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    env = {
        "SMMC_SIMULATOR": "off",
        "SMMC_SOURCE_DATA": str(tmp_path),
        "SMMC_SMMEPLUS_INBOX": "/data/inbox",
        "SMMC_SMMEPLUS_INVENTORY": "/data/inventory",
        "SMMC_CLOUDERA_REPORT": "https://cloudera.example/report.csv",
        "SMMC_CLOUDERA_SCHEDULE": "/data/jobs.yml",
        "SMMC_OPENGATE_URL": "https://opengate.example",
        "SMMC_OPENGATE_ORGANIZATION": "org",
    }
    paths = RealSources(env).start(None)  # type: ignore[arg-type]
    assert paths.inbox == tmp_path / "inbox"
    assert paths.inventory == tmp_path / "inventory"
    assert paths.report == "https://cloudera.example/report.csv"
    assert paths.schedule == tmp_path / "jobs.yml"
    assert (paths.opengate_url, paths.organization, paths.fleet) == ("https://opengate.example", "org", None)
    with pytest.raises(StackError, match="SMMC_SMMEPLUS_INBOX"):
        RealSources({**env, "SMMC_SMMEPLUS_INBOX": ""}).start(None)  # type: ignore[arg-type]


def test_scenario_switches_the_control_file_of_any_simulator_directory(tmp_path: Path) -> None:
    """`smmc stack scenario NAME on|off --data DIR`: also the compose stack's way (DIR = /data)."""
    import subprocess

    from smmc.stack.processes import smmc_command

    def scenario(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*smmc_command(), "stack", "scenario", *args, "--data", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    control = tmp_path / "scenarios"
    assert scenario("grid-outage", "on").returncode == 0
    assert scenario("sim-suspended", "on").returncode == 0
    assert control.read_text() == "grid-outage\nsim-suspended\n"
    listing = scenario("--list")
    assert re.search(r"grid-outage\s+on", listing.stdout) and re.search(
        r"garbage-input\s+off", listing.stdout
    )
    assert scenario("grid-outage", "off").returncode == 0
    assert control.read_text() == "sim-suspended\n"
    unknown = scenario("no-such-scenario", "on")
    assert unknown.returncode == 2 and "unknown scenario 'no-such-scenario'" in unknown.stderr
    assert control.read_text() == "sim-suspended\n"


def test_the_stack_code_imports_neither_the_simulator_nor_the_tests() -> None:
    import subprocess
    import sys

    code = (
        "import sys, smmc.stack.cli, smmc.stack.launcher, smmc.stack.config, smmc.stack.servers; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('simulator', 'tests', 'e2e')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_runs_with_the_rendered_provisioning_and_the_generated_password(tmp_path: Path) -> None:
    from smmc.stack.servers import grafana_argv, grafana_env, grafana_home

    # an upstream tarball: bin/grafana beside conf/defaults.ini
    home = tmp_path / "grafana-11"
    (home / "bin").mkdir(parents=True)
    (home / "conf").mkdir()
    (home / "conf" / "defaults.ini").write_text("")
    (home / "bin" / "grafana").write_text("")
    assert grafana_home(str(home / "bin" / "grafana")) == home
    assert grafana_argv(str(home / "bin" / "grafana"), home) == [
        str(home / "bin" / "grafana"),
        "server",
        f"--homepath={home}",
    ]
    assert grafana_argv("/usr/sbin/grafana-server", home)[1:] == [f"--homepath={home}"]
    env = grafana_env(tmp_path / "g", 3333, tmp_path / "prov", tmp_path / "pw", tmp_path / "meters.json")
    assert env["GF_SERVER_HTTP_ADDR"] == "127.0.0.1" and env["GF_SERVER_HTTP_PORT"] == "3333"
    assert env["GF_PATHS_PROVISIONING"] == str(tmp_path / "prov")
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == str(tmp_path / "pw")
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    # the compose service's settings, so the two stacks behave alike
    compose = load_yaml(cfg.REPO_ROOT / "docker-compose.yml")["services"]["grafana"]["environment"]
    for key in ("GF_USERS_ALLOW_SIGN_UP", "GF_AUTH_ANONYMOUS_ENABLED", "GF_ANALYTICS_REPORTING_ENABLED"):
        assert env[key] == compose[key]


def test_status_without_a_local_stack_probes_the_default_ports(tmp_path: Path) -> None:
    import subprocess

    from smmc.stack.processes import smmc_command

    result = subprocess.run(
        [*smmc_command(), "stack", "status", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in result.stderr
    assert "probing the default ports (the compose stack)" in result.stdout
    for spec in SERVICES:
        line = rf"{spec.name}\s+(up|down|answers)\b.*:{spec.port}{spec.health}"
        assert re.search(line, result.stdout), spec
    assert result.returncode == (0 if " 10 of 10 up" in result.stdout else 1)
