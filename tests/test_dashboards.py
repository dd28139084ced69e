"""The Control Room generator: committed JSON is fresh, provisioning is right, panel_queries() is usable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from smmc import dashboards
from smmc.dashboards import cli
from smmc.dashboards.panels import DATASOURCE_UID, UIDS

REPO = Path(__file__).resolve().parents[1]
PROVISIONING = REPO / "grafana" / "provisioning"


def test_committed_dashboards_are_what_the_generator_writes():
    assert dashboards.stale() == [], "run `smmc dashboards generate` and commit grafana/dashboards/"


def test_one_module_and_one_file_per_dashboard_with_fixed_uids():
    built = dashboards.build_all()
    assert sorted(built) == sorted(f"{name}.json" for name in dashboards.DASHBOARD_MODULES)
    assert {board["uid"] for board in built.values()} == {uid for uid, _slug in UIDS.values()}
    for board in built.values():
        # plain dashboard JSON, not the newer "manifest" wrapper
        assert "panels" in board and "kind" not in board and "spec" not in board


def test_generation_is_deterministic():
    first = dashboards.render()
    dashboards._built.cache_clear()
    assert dashboards.render() == first


def test_generate_writes_and_check_detects_stale_and_extra_files(tmp_path, capsys):
    assert cli.main(["generate", "--out", str(tmp_path)]) == 0
    assert cli.main(["check", "--dir", str(tmp_path), "--no-lint"]) == 0
    meters = tmp_path / "meters.json"
    board = json.loads(meters.read_text())
    board["title"] = "edited in the UI"
    meters.write_text(json.dumps(board, indent=2, sort_keys=True) + "\n")
    (tmp_path / "old.json").write_text("{}")
    assert cli.main(["check", "--dir", str(tmp_path), "--no-lint"]) == 1
    err = capsys.readouterr().err
    assert "meters.json: stale" in err and "old.json: not generated" in err
    cli.main(["generate", "--out", str(tmp_path)])
    assert not (tmp_path / "old.json").exists()
    assert cli.main(["check", "--dir", str(tmp_path), "--no-lint"]) == 0


def test_check_fails_when_a_dashboard_is_missing(tmp_path, capsys):
    cli.main(["generate", "--out", str(tmp_path)])
    (tmp_path / "health.json").unlink()
    assert cli.main(["check", "--dir", str(tmp_path), "--no-lint"]) == 1
    assert "health.json: missing" in capsys.readouterr().err


def test_datasource_provisioning_has_the_fixed_uid():
    data = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    (source,) = data["datasources"]
    assert source["uid"] == DATASOURCE_UID
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert source["editable"] is False


def test_dashboard_provider_is_read_only_in_the_control_room_folder():
    data = yaml.safe_load((PROVISIONING / "dashboards" / "control-room.yml").read_text())
    (provider,) = data["providers"]
    assert provider["type"] == "file"
    assert provider["allowUiUpdates"] is False
    assert provider["folder"] == "Control Room"
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts


def test_panel_queries_substitute_every_variable():
    queries = dashboards.panel_queries()
    assert queries
    for uid, title, expr in queries:
        assert uid.startswith("smmc-") and title
        assert "$" not in expr.replace("$1", ""), (uid, title, expr)
    built = dashboards.build_all()
    targets = sum(len(p.get("targets", [])) for b in built.values() for p in dashboards.iter_panels(b))
    assert len(dashboards.panel_queries(include_optional=True)) == targets


def test_panel_queries_leave_out_optional_sources_unless_asked():
    titles = {(uid, title) for uid, title, _ in dashboards.panel_queries()}
    with_optional = {(uid, title) for uid, title, _ in dashboards.panel_queries(include_optional=True)}
    assert with_optional - titles == dashboards.OPTIONAL_SOURCE_PANELS


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('x{a=~"$comuna"}', 'x{a=~".*"}'),
        ('x{a=~"${comuna}"}[$__range]', 'x{a=~".*"}[1d]'),
        ('label_replace(x, "a", "$1", "b", "(.*)")', 'label_replace(x, "a", "$1", "b", "(.*)")'),
    ],
)
def test_substitute(expr, expected):
    assert dashboards.substitute(expr, {"comuna": ".*", **dashboards.BUILTIN_VARIABLES}) == expected


def test_substitute_rejects_an_undefined_variable():
    with pytest.raises(KeyError, match="nope"):
        dashboards.substitute('x{a="$nope"}', {})


def test_queries_command_prints_one_json_object_per_target(capsys):
    assert cli.main(["queries"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(dashboards.panel_queries())
    assert set(json.loads(lines[0])) == {"dashboard", "panel", "expr"}


# (dashboard uid, panel title) -> (alert, parameter): the panel turns red where the alert fires.
ALERT_COLOURED_PANELS = {
    ("smmc-communications", "Round-trip time across routers"): ("ModemRttHigh", "rtt_max_seconds"),
    ("smmc-communications", "Top 10 routers by RTT"): ("ModemRttHigh", "rtt_max_seconds"),
    ("smmc-health", "SMMePlus: age of the newest ingest, by file kind"): (
        "SourceFileStale",
        "source_max_age_seconds",
    ),
    ("smmc-platform", "SMMePlus files: age of the newest ingest"): (
        "SourceFileStale",
        "source_max_age_seconds",
    ),
    ("smmc-alerts", "Oldest action waiting"): ("ReceiverOutboxStuck", "receiver_outbox_max_age_seconds"),
}


def test_panels_turn_red_at_the_alert_threshold_of_rules_thresholds_yml():
    from smmc.rules import model

    rules = model.load()
    found = {}
    for board in dashboards.build_all().values():
        for panel in dashboards.iter_panels(board):
            key = (board["uid"], panel["title"])
            if key in ALERT_COLOURED_PANELS:
                steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
                found[key] = min(s["value"] for s in steps if s["color"] == "red")
    assert set(found) == set(ALERT_COLOURED_PANELS)
    for key, (alert, param) in ALERT_COLOURED_PANELS.items():
        threshold = model.duration_seconds(rules.alert(alert).params[param])
        assert found[key] == threshold, f"{key}: red from {found[key]}, {alert} fires above {threshold}"


def test_the_overview_is_grafanas_home_in_the_compose_stack():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    grafana = compose["services"]["grafana"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    mount = next(v for v in grafana["volumes"] if v.startswith("./grafana/dashboards:"))
    container_dir = mount.split(":")[1]
    assert home == f"{container_dir}/{dashboards.HOME_DASHBOARD}"
    assert dashboards.build_all()[dashboards.HOME_DASHBOARD]["uid"] == "smmc-overview"
    assert dashboards.DASHBOARD_MODULES[0] == "overview"


def test_every_alert_but_the_watchdog_is_on_one_overview_tile():
    from smmc.dashboards import alert_thresholds, overview
    from smmc.rules import model

    rules = model.load()
    covered = [group for _title, _key, groups in overview.AREAS for group in groups]
    assert sorted(covered) == sorted(set(covered)), "a rule group on two tiles"
    assert set(rules.groups) == set(covered), "a rule group of rules/thresholds.yml on no Overview tile"
    on_tiles = [name for _t, _k, groups in overview.AREAS for name in overview.area_alerts(groups)]
    assert sorted(on_tiles) == sorted(a.name for a in rules.alerts if a.name != "Watchdog")
    assert set(alert_thresholds.rungs()) == {a.labels["maintenance"] for a in rules.alerts}
