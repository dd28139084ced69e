"""Alertmanager: amtool check-config, a routing test per alert, inhibition on a real Alertmanager."""

from __future__ import annotations

import pytest
import yaml

from smmc.repo import REPO_ROOT
from smmc.rules import checks, inhibition, routing, tools
from smmc.rules.model import RulesError, load

ROOT = REPO_ROOT
CONFIG = ROOT / "alertmanager/alertmanager.yml"


@pytest.fixture(scope="module")
def rs():
    return load(ROOT)


def test_amtool_check_config():
    result = tools.run([tools.amtool(), "check-config", str(CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_contract_strings_the_e2e_harness_rewrites():
    doc = yaml.safe_load(CONFIG.read_text())
    receivers = {r["name"]: r["webhook_configs"][0] for r in doc["receivers"]}
    assert set(receivers) == {"smmc-actions", "noc-notify", "watchdog"}
    for name, hook in receivers.items():
        assert hook["url"] == f"http://receiver:9820/webhook/{name}"
        assert (
            hook["http_config"]["authorization"]["credentials_file"]
            == "/etc/alertmanager/secrets/receiver-token"
        )
    assert receivers["smmc-actions"]["send_resolved"] is True


def test_routes_for_every_alert_and_maintenance_path(rs):
    cases = routing.cases(rs)
    paths = {(c.labels.get("maintenance"), c.labels.get("severity")) for c in cases}
    # every rung of the ladder is exercised by at least one alert
    assert {m for m, _ in paths} >= {"remote", "specialist", "field", "scheduled", "outage", "platform"}
    assert routing.check(rs, ROOT) == []


def test_routing_mismatch_is_reported(rs, tmp_path):
    broken = tmp_path / "alertmanager/alertmanager.yml"
    broken.parent.mkdir()
    doc = yaml.safe_load(CONFIG.read_text())
    doc["route"]["routes"] = [r for r in doc["route"]["routes"] if r["receiver"] != "watchdog"]
    broken.write_text(yaml.safe_dump(doc))
    problems = routing.check(rs, tmp_path)
    assert any(p.startswith("routes test Watchdog: expected watchdog") for p in problems)


def test_firmware_campaign_time_interval_mutes_scheduled_notifications():
    doc = yaml.safe_load(CONFIG.read_text())
    intervals = {t["name"]: t for t in doc["time_intervals"]}
    assert intervals["firmware-campaign"]["time_intervals"][0]["location"] == "America/Santiago"
    people = next(r for r in doc["route"]["routes"] if r["receiver"] == "noc-notify")
    scheduled = [r for r in people["routes"] if r.get("matchers") == ['maintenance="scheduled"']]
    assert scheduled and scheduled[0]["mute_time_intervals"] == ["firmware-campaign"]


def test_inhibit_rules_name_existing_alerts(rs):
    assert checks.inhibit_names(rs, ROOT) == []


def test_inhibition_on_a_real_alertmanager(rs):
    probes, got, problems = inhibition.run(rs, ROOT)
    assert problems == []
    # the scenario covers each kind of inhibition both ways
    assert sum(p.inhibited for p in probes) >= 8
    assert sum(not p.inhibited for p in probes) >= 8
    assert got["conc-a"] is True and got["conc-b"] is False  # modem -> concentrator
    # a suspended SIM -> its router, not the other way round, and not a router whose SIM is fine
    assert got["modem-s"] is True and got["sim-s"] is False and got["modem-t"] is False
    # the router explains its concentrator's meters directly, before any status-word report
    assert got["meters-r"] is True and got["meters-r-field"] is True and got["wo-r-reach"] is True
    # a PLC modem failure (CSW U) explains the meters; another high-priority flag (L) does not
    assert got["meters-p"] is True and got["meters-q-field"] is True and got["meters-c"] is False
    # the concentrator ladder, and the operator's SLA escalation is never replaced by the field order
    assert got["csw-k-remote"] is True and got["csw-k-spec"] is True and got["csw-k-other"] is False
    assert got["escalation-s"] is False
    assert got["meters-d"] is True and got["wo-d-dev"] is False  # grid outage -> meter communication only
    assert got["tamper-x-remote"] is True and got["tamper-y-remote"] is False  # ladder, same object only
    assert got["conc-f-cond"] is True and got["conc-g-cond"] is False  # critical -> warning, same object


def test_inhibition_scenario_entries_are_checked(rs, tmp_path):
    (tmp_path / "rules" / "tests").mkdir(parents=True)
    scenario_file = tmp_path / inhibition.SCENARIO
    good = {
        "alert": "ConcentratorUnreachable",
        "inhibited": True,
        "why": "x",
        "labels": {"concentrator": "T"},
    }
    scenario_file.write_text(yaml.safe_dump({"c": good}))
    (probe,) = inhibition.scenario(rs, tmp_path)
    assert probe.labels["concentrator"] == "T" and probe.labels["alertname"] == "ConcentratorUnreachable"
    for bad, says in [
        ({**good, "alert": "NoSuchAlert"}, "no alert 'NoSuchAlert'"),
        ({**good, "inhibited": "yes please"}, "true or false"),
        ({k: v for k, v in good.items() if k != "why"}, "needs"),
        ({**good, "inhibit": True}, "nothing else"),
    ]:
        scenario_file.write_text(yaml.safe_dump({"c": bad}))
        with pytest.raises(RulesError, match=says):
            inhibition.scenario(rs, tmp_path)
