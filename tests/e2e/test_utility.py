"""The simulated utility without any server: coherence of its parts, scenarios, recovery, the command."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from simulator.scenarios import Scenario, ScenarioError, available, load_all, load_scenario, parse_scenario
from simulator.utility import Utility, UtilityError

from .harness import REPO, smmc_command
from .stack import DST_DATE, START_DATE


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep=None, engine="python", dtype=str, keep_default_na=False)


@pytest.fixture
def utility(tmp_path: Path) -> Utility:
    return Utility(tmp_path / "u", 120, seed=3, start_date=START_DATE, meters_per_concentrator=15)


def test_the_parts_describe_one_utility(utility: Utility) -> None:
    record = utility.emit_day()
    concentrators = _read(utility.paths["inventory"] / "concentrators.csv")
    meters = _read(utility.paths["inventory"] / "meters.csv")
    fleet = json.loads(utility.paths["fleet"].read_text())
    assert len(meters) == 120
    # each concentrator's router is an OpenGate modem of the same id, with its own ACTIVE SIM
    assert sorted(d["id"] for d in fleet["devices"]) == sorted(concentrators["modem"])
    sims = {s["id"]: s for s in fleet["sims"]}
    assert all(sims[d["sim"]]["state"] == "ACTIVE" for d in fleet["devices"])
    # the day's files name the inventory's concentrators and meters
    swe = _read(Path(record.files["swe"]))
    assert set(swe["concentrator"]) <= set(concentrators["concentrator"])
    assert set(swe["meter"]) <= set(meters["meter"])
    csw = pd.read_csv(record.files["csw"], sep="\t", dtype=str, skiprows=2, header=None)
    assert set(csw[0]) == set(concentrators["concentrator"])
    report = _read(utility.paths["report"])
    assert list(report.columns) == ["proceso", "hora_ejecucion", "estado_final", "criticidad"]
    assert set(report["estado_final"]) == {"OK"}
    state = json.loads((utility.out / "utility.json").read_text())
    assert (state["day"], state["seed"], state["meters"]) == (0, 3, 120)


def test_deterministic_for_a_seed_and_days_follow_each_other(tmp_path: Path) -> None:
    # 300 meters: 20 concentrators, most of them outside the scenarios' quiet ones, so the day has noise
    a = Utility(tmp_path / "a", 300, seed=5, start_date=START_DATE, meters_per_concentrator=15)
    b = Utility(tmp_path / "b", 300, seed=5, start_date=START_DATE, meters_per_concentrator=15)
    ra, rb = a.emit_day(), b.emit_day()
    for kind in ("swe", "hpe", "csw", "msw", "technical", "lpe"):
        assert Path(ra.files[kind]).read_bytes() == Path(rb.files[kind]).read_bytes(), kind
    assert a.paths["fleet"].read_bytes() == b.paths["fleet"].read_bytes()
    # a new Utility on the same directory continues with the next day
    again = Utility(tmp_path / "a", 300, seed=5, meters_per_concentrator=15).emit_day()
    assert (again.index, (again.date - ra.date).days) == (1, 1)
    other = Utility(tmp_path / "c", 300, seed=6, start_date=START_DATE, meters_per_concentrator=15).emit_day()
    assert Path(other.files["swe"]).read_bytes() != Path(ra.files["swe"]).read_bytes()


def _touches(scenario: Scenario) -> set[tuple[str, str]]:
    """What a scenario changes on its concentrator: meter flags, CSW fields, work orders, router fields."""
    out: set[tuple[str, str]] = set()
    effects = scenario.effects
    out |= {("flag", str(f)) for f in effects.get("meters", {}).get("flags", [])}
    concentrator = effects.get("concentrator", {})
    if "reachable" in concentrator:
        out.add(("csw", "reachable"))
    out |= {("csw", str(c)) for c in concentrator.get("conditions", [])}
    if "workorders" in effects:
        out.add(("workorders", ""))
    out |= {("modem", str(k)) for k in effects.get("modem", {})}
    return out


def test_every_scenario_acts_on_a_healthy_object_without_overlapping_another(utility: Utility) -> None:
    """Scenarios that share a concentrator (they all run in one incident) change different things on
    it: no two raise the same meter flag, set the same CSW field, fail its work orders or change the same
    router field, so each one's alerts and their clearing are its own."""
    scenarios = list(load_all().values())
    targets = {s.name: utility.targets(s) for s in scenarios}
    seen: dict[str, dict[tuple[str, str], str]] = {}
    for scenario in scenarios:
        conc = targets[scenario.name].get("concentrator")
        if conc is None:
            continue
        mine = seen.setdefault(conc, {})
        for touch in _touches(scenario):
            assert touch not in mine, f"{scenario.name} and {mine[touch]} both change {touch} on {conc}"
            mine[touch] = scenario.name
    devices = {d["id"]: d for d in utility.base_fleet["devices"]}
    for t in targets.values():
        if "modem" in t:
            assert (devices[t["modem"]]["unified_presence"], devices[t["modem"]]["ip_presence"]) == (
                "IP",
                "OK",
            )
    assert targets["cloudera-critical-job-late"]["job"] in {
        j.name for j in utility.schedule.jobs if j.criticality == "critical"
    }


def test_scenario_effects_and_recovery(utility: Utility) -> None:
    names = ["grid-outage", "router-loses-presence", "concentrator-unreachable-persistent", "sim-suspended"]
    utility.emit_day()
    incident = utility.emit_day([load_scenario(n) for n in [*names, "garbage-input"]])
    t = incident.targets
    swe = _read(Path(incident.files["swe"]))
    outage = t["grid-outage"]["concentrator"]
    newest = swe[swe["concentrator"] == outage].drop_duplicates(["meter", "type"], keep="last")
    pup = newest[newest["description"].str.contains("PUP") & (newest["isactive"] == "TRUE")]
    assert pup["meter"].nunique() == t["grid-outage"]["meters"]
    csw = pd.read_csv(incident.files["csw"], sep="\t", dtype=str, skiprows=2, header=None)
    reachable = dict(zip(csw[0], csw[2], strict=True))
    assert reachable[t["router-loses-presence"]["concentrator"]] == "0"
    assert reachable[t["concentrator-unreachable-persistent"]["concentrator"]] == "0"
    hpe = _read(Path(incident.files["hpe"]))
    down = hpe[hpe["concentrator"] == t["concentrator-unreachable-persistent"]["concentrator"]]
    assert (down["description"] == "[NODE_CONNECTIVITY] Concentrator is unreachable").sum() >= 1
    fleet = json.loads(utility.paths["fleet"].read_text())
    device = next(d for d in fleet["devices"] if d["id"] == t["router-loses-presence"]["modem"])
    assert (device["unified_presence"], device["ip_presence"]) == ("NOT_REGISTERED", "NOK")
    sim = next(s for s in fleet["sims"] if s["id"] == t["sim-suspended"]["sim"])
    assert sim["state"] == "SUSPENDED"
    garbage = Path(incident.files["garbage:garbage-input"])
    assert garbage.name.startswith("SWE_") and b"\xff" in garbage.read_bytes()

    recovery = utility.emit_day()
    swe = _read(Path(recovery.files["swe"]))
    newest = swe[swe["concentrator"] == outage].drop_duplicates(["meter", "type"], keep="last")
    assert not ((newest["description"].str.contains("PUP")) & (newest["isactive"] == "TRUE")).any()
    csw = pd.read_csv(recovery.files["csw"], sep="\t", dtype=str, skiprows=2, header=None)
    assert dict(zip(csw[0], csw[2], strict=True))[t["router-loses-presence"]["concentrator"]] == "1"
    fleet = json.loads(utility.paths["fleet"].read_text())
    device = next(d for d in fleet["devices"] if d["id"] == t["router-loses-presence"]["modem"])
    assert device["unified_presence"] == "IP"


def test_late_critical_job_in_the_report(utility: Utility) -> None:
    record = utility.emit_day([load_scenario("cloudera-critical-job-late")])
    report = _read(utility.paths["report"])
    job = record.targets["cloudera-critical-job-late"]["job"]
    row = report[report["proceso"] == job].iloc[0]
    assert (row["hora_ejecucion"], row["estado_final"], row["criticidad"]) == (
        "None",
        "Retraso en ejecucion",
        "Critico",
    )


def test_a_scenario_needs_enough_concentrators(tmp_path: Path) -> None:
    small = Utility(tmp_path / "s", 20, seed=1, start_date=START_DATE)
    with pytest.raises(UtilityError, match="simulate more meters"):
        small.targets(load_scenario("sim-suspended"))


def test_scenario_files_are_valid_and_expect_alerts_the_rules_define() -> None:
    thresholds = yaml.safe_load((REPO / "rules" / "thresholds.yml").read_text(encoding="utf-8"))
    alerts = {a["alert"] for group in thresholds["groups"].values() for a in group}
    actions = yaml.safe_load((REPO / "alertmanager" / "actions.yml").read_text(encoding="utf-8"))
    scenarios = load_all()
    assert set(scenarios) == {
        "router-loses-presence",
        "grid-outage",
        "meter-case-openings",
        "concentrator-unreachable-persistent",
        "cloudera-critical-job-late",
        "sim-suspended",
        "garbage-input",
        "concentrator-conditions",
        "meter-flags-first-step",
        "router-before-status-report",
        "plc-modem-failure",
        "first-workorder-errors",
    }
    for scenario in scenarios.values():
        assert scenario.expect, f"{scenario.name}: expects nothing"
        for kind in ("firing", "actions", "inhibited", "not_firing"):
            for item in scenario.expect.get(kind, []):
                assert item["alertname"] in alerts, f"{scenario.name}: no alert {item['alertname']}"
        for item in scenario.expect.get("actions", []):
            assert item["action"] in actions["action_types"], item
            assert item["system"] in ("jira", "smmeplus"), item


def test_bad_scenarios_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="unknown effects"):
        parse_scenario({"name": "x", "description": "d", "effects": {"earthquake": {}}}, "x.yml")
    with pytest.raises(ScenarioError, match="concentrator_rank"):
        parse_scenario({"name": "x", "description": "d", "effects": {"meters": {"flags": ["PUP"]}}}, "x.yml")
    with pytest.raises(ScenarioError, match="no scenario"):
        load_scenario("no-such-scenario")
    assert "grid-outage" in available()


def test_command_emits_one_day_then_loops_until_stopped(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    base = [*smmc_command(), "simulate", "utility", "--out", str(out), "--meters", "30", "--seed", "2"]
    base += ["--start-date", START_DATE.isoformat()]
    once = subprocess.run([*base, "--scenario", "garbage-input"], capture_output=True, text=True, timeout=120)
    assert once.returncode == 0, once.stderr
    assert f"day 0 ({START_DATE})" in once.stdout
    assert json.loads((out / "utility.json").read_text())["scenarios"] == ["garbage-input"]
    bad = subprocess.run([*base, "--scenario", "nope"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no scenario 'nope'" in bad.stderr
    off = subprocess.run(base, capture_output=True, text=True, timeout=120, env={"SMMC_SIMULATOR": "off"})
    assert off.returncode == 0 and "SMMC_SIMULATOR=off" in off.stdout
    # the demo loop: a control file switches a scenario on between days; SIGTERM ends it cleanly
    (out / "scenarios").write_text("garbage-input  # on during the demo\n")
    loop = subprocess.Popen([*base, "--loop-seconds", "0.2"], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while json.loads((out / "utility.json").read_text())["day"] < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        loop.send_signal(signal.SIGTERM)
        stdout, _ = loop.communicate(timeout=30)
    assert loop.returncode == 0
    assert json.loads((out / "utility.json").read_text())["scenarios"] == ["garbage-input"]
    assert "day 3" in stdout


def test_list_scenarios() -> None:
    result = subprocess.run(
        [*smmc_command(), "simulate", "utility", "--list-scenarios", "--out", "-", "--meters", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert all(name in result.stdout for name in available())


def test_a_new_utility_needs_its_start_date(tmp_path: Path) -> None:
    with pytest.raises(UtilityError, match="start date"):
        Utility(tmp_path / "n", 60, seed=1)
    # the command's clock (or the caller's) says which day is day 0
    made = Utility(tmp_path / "n", 60, seed=1, today=lambda: dt.date(2031, 1, 2))
    assert made.emit_day().date == dt.date(2031, 1, 2)
    # a saved utility continues its own calendar whatever the clock says
    again = Utility(tmp_path / "n", 60, seed=1, today=lambda: dt.date(1999, 1, 1))
    assert again.emit_day().date == dt.date(2031, 1, 3)


def _flagged_meters(utility: Utility, record, conc: str, flag: str) -> set[str]:
    """Meters of `conc` whose flag is active in the day's newest SWE rows or its status words."""
    from smmc.catalogs import load_catalogs

    f = load_catalogs().meter_flag(flag)
    swe = _read(Path(record.files["swe"]))
    newest = swe[swe["concentrator"] == conc].drop_duplicates(["meter", "type"], keep="last")
    active = set(
        newest.loc[newest["description"].str.contains(flag) & (newest["isactive"] == "TRUE"), "meter"]
    )
    msw = _read(Path(record.files["msw"]))
    msw = msw[msw["concentrator"] == conc]
    return active | {m for m, w in zip(msw["meter"], msw[f.word], strict=True) if int(w, 16) & f.mask}


@pytest.mark.parametrize("start", [START_DATE, DST_DATE, dt.date(2026, 11, 30), dt.date(2021, 10, 7)])
def test_a_scenarios_objects_carry_no_background_noise(tmp_path: Path, start: dt.date) -> None:
    """Before, during and after a scenario, its concentrator shows what the scenario does and nothing
    else, on any date: the failure of 2026-11-30 (a CAPE of the day's noise on the case-openings
    concentrator after the scenario ended) cannot come back."""
    from smmc.catalogs import load_catalogs

    cat = load_catalogs()
    utility = Utility(tmp_path / "q", 120, seed=3, start_date=start, meters_per_concentrator=15)
    scenarios = [load_scenario(n) for n in available()]
    days = [utility.emit_day(), utility.emit_day(scenarios), utility.emit_day()]
    targets = days[1].targets
    conc = targets["meter-case-openings"]["concentrator"]
    assert _flagged_meters(utility, days[0], conc, "CAPE") == set()
    assert len(_flagged_meters(utility, days[1], conc, "CAPE")) == -(
        -targets["meter-case-openings"]["meters"] // 2
    )
    assert _flagged_meters(utility, days[2], conc, "CAPE") == set()
    for record in (days[0], days[2]):
        csw = pd.read_csv(record.files["csw"], sep="\t", dtype=str, skiprows=2, header=None)
        words = dict(zip(csw[0], csw[4], strict=True))
        reachable = dict(zip(csw[0], csw[2], strict=True))
        hpe = _read(Path(record.files["hpe"]))
        fleet = json.loads(Path(record.files["fleet"]).read_text())
        devices = {d["id"]: d for d in fleet["devices"]}
        alarmed = {a["entity"] for a in fleet["alarms"]}
        modem = utility.fleet.concentrators.set_index("concentrator")["modem"]
        for conc in utility.reserved:
            device = devices[modem[conc]]
            assert (device["unified_presence"], device["ip_presence"]) == ("IP", "OK")
            assert device["rtt_ms"] <= 550 and device["id"] not in alarmed
            assert cat.decode_csw(words[conc]).alarms == [] and reachable[conc] == "1", (record.date, conc)
            assert set(hpe.loc[hpe["concentrator"] == conc, "description"]) <= {"OK"}
            assert _flagged_meters(utility, record, conc, "PUP") == set()


def test_the_conditions_scenario_puts_one_concentrator_in_every_condition(utility: Utility) -> None:
    from smmc.catalogs import load_catalogs

    cat = load_catalogs()
    record = utility.emit_day([load_scenario("concentrator-conditions")])
    conc = record.targets["concentrator-conditions"]["concentrator"]
    csw = pd.read_csv(record.files["csw"], sep="\t", dtype=str, skiprows=2, header=None)
    alarms = cat.decode_csw(dict(zip(csw[0], csw[4], strict=True))[conc]).alarms
    possible = {f.letter for f in cat.csw_flags if f.polarity in ("set", "clear")}
    assert {a.letter for a in alarms} == possible
    assert {a.priority for a in alarms} == {"alta", "media", "baja"}
    expected = load_scenario("concentrator-conditions").expect["metrics"][0]
    assert expected["min"] == len(possible)


def test_the_calendar_jumps_forward_only(utility: Utility) -> None:
    utility.emit_day()
    utility.jump_to(DST_DATE)
    assert utility.emit_day().date == DST_DATE
    assert utility.emit_day().date == DST_DATE + dt.timedelta(days=1)
    with pytest.raises(UtilityError, match="cannot jump back"):
        utility.jump_to(DST_DATE)


def test_the_command_takes_its_start_date_from_the_environment(tmp_path: Path) -> None:
    """docker compose passes SMMC_SIM_START_DATE (a pinned demo calendar); --start-date wins over it."""
    base = [*smmc_command(), "simulate", "utility", "--meters", "30", "--seed", "2"]
    env = {**os.environ, "SMMC_SIM_START_DATE": DST_DATE.isoformat()}
    run = subprocess.run([*base, "--out", str(tmp_path / "a")], capture_output=True, text=True, env=env)
    assert run.returncode == 0 and f"day 0 ({DST_DATE})" in run.stdout, run.stderr
    flag = ["--out", str(tmp_path / "b"), "--start-date", START_DATE.isoformat()]
    run = subprocess.run([*base, *flag], capture_output=True, text=True, env=env)
    assert run.returncode == 0 and f"day 0 ({START_DATE})" in run.stdout, run.stderr
    env["SMMC_SIM_START_DATE"] = "not-a-date"
    bad = subprocess.run([*base, "--out", str(tmp_path / "c")], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "not-a-date" in bad.stderr
