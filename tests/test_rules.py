"""Rules as code: generated files fresh, promtool check/test, every alert tested and documented, lint."""

from __future__ import annotations

import glob
import shutil
from pathlib import Path

import pytest
import yaml

from smmc.repo import REPO_ROOT
from smmc.rules import checks, cli, gotemplate, lint, render
from smmc.rules.model import RulesError, arithmetic, expand, load

ROOT = REPO_ROOT


@pytest.fixture(scope="module")
def rs():
    return load(ROOT)


def _rule_files() -> list[str]:
    return sorted(glob.glob(str(ROOT / "rules/*.rules.yml")))


def _test_files() -> list[str]:
    return sorted(glob.glob(str(ROOT / "rules/tests/*.test.yml")))


def _alertnames_in_rule_files() -> set[str]:
    names = set()
    for path in _rule_files():
        for group in yaml.safe_load(Path(path).read_text())["groups"]:
            names |= {r["alert"] for r in group["rules"] if "alert" in r}
    return names


def test_generated_files_are_fresh(rs):
    assert checks.stale_files(rs, ROOT) == []


def test_promtool_check_rules():
    from smmc.rules import tools

    result = tools.run([tools.promtool(), "check", "rules", *_rule_files()])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules():
    from smmc.rules import tools

    result = tools.run([tools.promtool(), "test", "rules", *_test_files()], cwd=ROOT / "rules/tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_promtool_test():
    """Read the committed rule and test files (not the generator): every alert fires and stays quiet."""
    fires: set[str] = set()
    quiet: set[str] = set()
    for path in _test_files():
        for test in yaml.safe_load(Path(path).read_text())["tests"]:
            for art in test.get("alert_rule_test") or []:
                (fires if art.get("exp_alerts") else quiet).add(art["alertname"])
    names = _alertnames_in_rule_files()
    assert len(names) >= 40
    assert sorted(names - fires) == [], "alerts without a promtool test that fires them"
    assert sorted(names - quiet - {"Watchdog"}) == [], (
        "alerts without a promtool test where they must not fire"
    )


def test_firing_tests_assert_exact_labels_and_annotations():
    for path in _test_files():
        for test in yaml.safe_load(Path(path).read_text())["tests"]:
            for art in test.get("alert_rule_test") or []:
                for exp in art.get("exp_alerts") or []:
                    assert {"severity", "maintenance", "team"} <= set(exp["exp_labels"]), art["alertname"]
                    assert set(exp["exp_annotations"]) == {"summary", "description", "runbook_url", "action"}


def test_every_alert_has_a_runbook_with_the_four_sections():
    for name in _alertnames_in_rule_files():
        path = ROOT / "docs/runbooks" / f"{name}.md"
        assert path.exists(), f"missing runbook {path}"
        text = path.read_text()
        for section in lint.RUNBOOK_SECTIONS:
            assert section in text, f"{path.name} lacks {section}"


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 3)
    return text[start : end if end != -1 else len(text)].split("### ")[0].strip()


def test_paging_runbooks_have_their_own_diagnosis_and_mitigation(rs):
    """A page at 3 a.m. gets steps written for that alert, not the family's boilerplate."""
    critical = [a.name for a in rs.alerts if a.labels["severity"] == "critical"]
    texts = {name: (ROOT / "docs" / "runbooks" / f"{name}.md").read_text() for name in critical}
    seen: dict[str, str] = {}
    for name, text in texts.items():
        diagnosis = _section(text, "Diagnosis")
        assert diagnosis not in seen, f"{name} and {seen.get(diagnosis)} share one Diagnosis section"
        seen[diagnosis] = name
        mitigation = _section(text, "Mitigation")
        assert "Follow the team procedure named above" not in mitigation, f"{name}: say what to do"


def test_lint_passes(rs):
    assert lint.run(rs, ROOT) == []


def test_every_metric_a_rule_reads_is_documented(rs):
    """Parsed with promql_parser; docs/metrics.md plus Prometheus built-ins and recording rules."""
    assert lint.check_metrics_documented(rs, ROOT / "docs/metrics.md") == []
    read = set().union(*(lint.metric_names(a.expr) for a in rs.alerts))
    assert {"smmc_meter_flag_active", "opengate_modem_present", "azurerm_resource_metric", "up"} <= read


def test_lint_catches_an_undocumented_metric(rs, tmp_path):
    doc = tmp_path / "metrics.md"
    doc.write_text("| `smmc_meter_flag_active` | gauge | meter | x |\n")
    problems = lint.check_metrics_documented(rs, doc)
    assert any("`opengate_modem_present`" in p for p in problems)
    assert not any("`smmc_meter_flag_active`" in p for p in problems)


def test_metric_names_walks_the_whole_expression():
    expr = "sum by (a) (rate(x_total[5m])) / on (a) group_left max(y)"
    expr += ' or label_replace(z, "b", "$1", "a", "(.*)")'
    assert lint.metric_names(expr) == {"x_total", "y", "z"}


def test_lint_catches_policy_violations(rs):
    from dataclasses import replace

    a = rs.alert("MeterTamperDetected")
    bad = replace(
        a,
        name="meter_tamper",
        labels={"severity": "page", "maintenance": "remote", "team": "nobody"},
        summary="Meter {{ $labels.meter }}",
        description="{{ $value | humanize }}",
    )
    problems = lint.check_naming(replace(rs, alerts=[bad]))
    text = "\n".join(problems)
    for fragment in (
        "CamelCase",
        "severity 'page'",
        "team 'nobody'",
        "needs command",
        "static sentence",
        "humanize",
    ):
        assert fragment in text


def test_lint_catches_a_missing_case_and_runbook(rs, tmp_path):
    from dataclasses import replace

    a = replace(rs.alert("GridOutage"), quiet=None)
    assert any("no at-threshold" in p for p in lint.check_tests(replace(rs, alerts=[a])))
    (tmp_path / "docs/runbooks").mkdir(parents=True)
    assert any("missing runbook" in p for p in lint.check_runbooks(replace(rs, alerts=[a]), tmp_path))


def test_substitution_and_arithmetic():
    params = {"flags": ["CAPE", "TC_Rem"], "n": 10, "d": "1h"}
    assert expand('x{flag=~"${flags}"} > ${n}', params, {"n": 10.0}, "t") == 'x{flag=~"CAPE|TC_Rem"} > 10'
    assert expand("$(n + 1)x60", params, {"n": 10.0}, "t") == "11x60"
    assert arithmetic("d * 2 + 60", {"d": 3600.0}, "t") == 7260
    with pytest.raises(RulesError, match="unknown parameter"):
        expand("${nope}", params, {}, "t")
    with pytest.raises(RulesError, match="unsupported"):
        arithmetic("__import__('os')", {}, "t")


def test_go_template_subset():
    labels = {"meter": "M1"}
    assert (
        gotemplate.render("m {{ $labels.meter }} {{ $labels.x }}", labels, None) == "m M1 "
    )  # Prometheus renders an absent label as ""
    assert gotemplate.render('{{ printf "%.1f" $value }}', {}, 2.25) == "2.2"
    assert gotemplate.render("{{ $value | humanizePercentage }}", {}, 0.1) == "10%"
    assert gotemplate.check("{{ $value | humanize }}") == ["$value | humanize"]


def test_alerts_doc_lists_every_alert(rs):
    text = (ROOT / "docs/alerts.md").read_text()
    for a in rs.alerts:
        assert f"[{a.name}](runbooks/{a.name}.md)" in text


def test_recording_rules_documented_in_metrics_md(rs):
    section = render.metrics_section(rs)
    text = (ROOT / "docs/metrics.md").read_text()
    assert section in text
    for r in rs.recording:
        assert f"`{r.record}`" in section


def _copy_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for rel in ("rules", "alertmanager", "docs"):
        shutil.copytree(ROOT / rel, root / rel)
    return root


def test_check_command_fails_on_a_stale_threshold_change(tmp_path, capsys):
    root = _copy_repo(tmp_path)
    thresholds = root / "rules/thresholds.yml"
    thresholds.write_text(thresholds.read_text().replace("outage_max_meters: 10", "outage_max_meters: 12"))
    rc = cli.main(["--root", str(root), "check", "--skip", "promtool-test", "--skip", "inhibition"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "FAIL  stale" in out and "rules/power.rules.yml: stale" in out
    # after `generate` the same change passes, and the rule carries the new threshold
    assert cli.main(["--root", str(root), "generate"]) == 0
    rc = cli.main(["--root", str(root), "check", "--skip", "promtool-test", "--skip", "inhibition"])
    assert rc == 0, capsys.readouterr().out
    assert "> 12" in (root / "rules/power.rules.yml").read_text()


def test_check_command_reports_a_broken_source(tmp_path, capsys):
    root = _copy_repo(tmp_path)
    (root / "rules/thresholds.yml").write_text("groups: [unclosed\n")
    assert cli.main(["--root", str(root), "check"]) == 1
    assert "thresholds.yml" in capsys.readouterr().err


def test_a_case_may_be_a_list_each_one_a_promtool_test(rs):
    """The Event Hub alert fires two ways (zeros, empty Azure buckets) and stays quiet three ways."""
    a = rs.alert("SmmeplusEventHubNoOutgoingBytes")
    assert (len(a.fires), len(a.quiets)) == (2, 3)
    tests = render.tests_for(a)
    firing = [t for t in tests if t["alert_rule_test"][0]["exp_alerts"]]
    quiet = [t for t in tests if not t["alert_rule_test"][0]["exp_alerts"]]
    assert len(firing) == 2
    assert len(quiet) == 3 + 1  # and the "still pending before `for`" check of the first case
    assert {tuple(sorted(s["series"] for s in t["input_series"])) for t in firing} == {
        tuple(sorted(a.fires[0].series)),
        tuple(sorted(a.fires[1].series)),
    }


def test_an_empty_list_of_cases_is_an_error(tmp_path):
    for rel in ("rules/thresholds.yml", "rules/tests/cases.yml"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    cases = tmp_path / "rules/tests/cases.yml"
    doc = yaml.safe_load(cases.read_text())
    doc["GridOutage"]["quiet"] = []
    cases.write_text(yaml.safe_dump(doc))
    with pytest.raises(RulesError, match=r"GridOutage\.quiet: an empty list of cases"):
        load(tmp_path)


def test_each_flags_first_alert_is_on_the_catalogs_rung(rs):
    """One ladder: the catalog's `maintenance` of a flag is the rung of its first (shortest `for`) alert."""
    from smmc.catalogs import load_catalogs

    assert lint.check_catalog_ladder(rs, ROOT) == []
    acronyms = [f.acronym for f in load_catalogs().meter_flags]
    selected, unknown = lint.flags_selected(rs.alert("MeterTamperDetected").expr, acronyms)
    assert (selected, unknown) == ({"CAPE", "TC_Rem", "UNLOCKED", "INTA"}, set())
    # every family of the issue is covered by the check, on the rung the seed gives it first
    cat = load_catalogs()
    first = {
        "CAPE": "remote", "DRAM": "remote", "WDODG": "remote", "ORD": "remote", "AFC": "remote",
        "BAT_LOW": "field", "EG1_F": "specialist", "PIC": "scheduled",
    }  # fmt: skip
    assert {flag: cat.meter_flag(flag).maintenance for flag in first} == first


def _catalog_copy(tmp_path: Path, old: str, new: str):
    from smmc.catalogs import load_catalogs

    base = tmp_path / "catalogs"
    shutil.copytree(ROOT / "smmc/catalogs", base, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    meter = base / "meter_status_words.yaml"
    text = meter.read_text(encoding="utf-8")
    assert text.count(old) == 1
    meter.write_text(text.replace(old, new), encoding="utf-8")
    return load_catalogs(base_dir=base)


def test_lint_catches_a_catalog_rung_that_disagrees_with_the_rules(rs, tmp_path):
    text = (ROOT / "smmc/catalogs/meter_status_words.yaml").read_text(encoding="utf-8")
    block = text[text.index("    acronym: CAPE\n") :]
    block = block[: block.index("  - word:")]
    assert "    maintenance: remote\n" in block
    cat = _catalog_copy(tmp_path, block, block.replace("maintenance: remote", "maintenance: field"))
    problems = lint.check_catalog_ladder(rs, ROOT, catalogs=cat)
    assert len(problems) == 1
    assert "flag CAPE" in problems[0] and "MeterTamperDetected" in problems[0]
    assert "maintenance: field" in problems[0]


def test_lint_catches_first_rungs_that_disagree_and_unknown_flags(rs):
    from dataclasses import replace

    tamper = rs.alert("MeterTamperDetected")
    twin = replace(tamper, name="MeterTamperTicket", labels={**tamper.labels, "maintenance": "specialist"})
    typo = replace(
        rs.alert("MeterBatteryLow"),
        expr='max by (meter) (smmc_meter_flag_active{flag=~"BAT_LOW|BATLOW"}) > 0',
    )
    problems = lint.check_catalog_ladder(replace(rs, alerts=[tamper, twin, typo]), ROOT)
    text = "\n".join(problems)
    assert "flag CAPE: its first alerts (for 15m) disagree" in text
    assert "MeterBatteryLow: selects flag 'BATLOW'" in text
    # outage and platform alerts are not a flag's ladder: GridOutage (PUP, critical) is not compared, so
    # PUP counts as a flag without an alert when GridOutage is the only one
    problems = lint.check_catalog_ladder(replace(rs, alerts=[rs.alert("GridOutage")]), ROOT)
    assert not any("GridOutage" in p for p in problems)
    assert any(p.startswith("flag PUP: ") and "no alert selects it" in p for p in problems)


def test_every_catalog_flag_with_a_step_has_an_alert_on_that_step(rs):
    """NPR, NPW, POP, SGR_OCC, OLU, KP_ON and PUP's single-meter remote step each have an alert."""
    from smmc.catalogs import load_catalogs

    cat = load_catalogs()
    acronyms = [f.acronym for f in cat.meter_flags]
    first: dict[str, tuple[float, set[str]]] = {}
    for a in rs.alerts:
        if a.labels["maintenance"] not in lint.CATALOG_RUNGS:
            continue
        for flag in lint.flags_selected(a.expr, acronyms)[0]:
            best = first.get(flag)
            if best is None or a.for_seconds < best[0]:
                first[flag] = (a.for_seconds, {a.name})
            elif a.for_seconds == best[0]:
                best[1].add(a.name)
    for f in cat.meter_flags:
        if f.maintenance != "none":
            assert f.acronym in first, f"{f.acronym}: no alert"
    for flag, alert, rung in (
        ("NPR", "MeterProtectionDisabled", "remote"),
        ("NPW", "MeterProtectionDisabled", "remote"),
        ("POP", "MeterPopCutOff", "remote"),
        ("SGR_OCC", "MeterDataSegregatedOccurred", "specialist"),
        ("OLU", "MeterOpticalPortLocked", "specialist"),
        ("KP_ON", "MeterProvisionalKeyActive", "specialist"),
        ("PUP", "MeterPowerOut", "remote"),
    ):
        assert first[flag][1] == {alert}, flag
        assert rs.alert(alert).labels["maintenance"] == rung == cat.meter_flag(flag).maintenance


def test_catalog_severity_is_the_alerts_severity(rs):
    """One source of truth: every ladder alert on a flag carries the catalog's severity for it."""
    from smmc.catalogs import load_catalogs

    cat = load_catalogs()
    acronyms = [f.acronym for f in cat.meter_flags]
    for a in rs.alerts:
        if a.labels["maintenance"] in lint.CATALOG_RUNGS:
            for flag in lint.flags_selected(a.expr, acronyms)[0]:
                assert a.labels["severity"] == cat.meter_flag(flag).severity, (a.name, flag)
    # the audit's three disagreements, each settled
    assert rs.alert("MeterEventRegisterNearFull").labels["severity"] == "warning"
    assert cat.meter_flag("EG1_F").severity == "warning"
    assert {cat.meter_flag(f).severity for f in ("CAPE", "DRAM", "ONSI")} == {"warning"}


def test_lint_catches_a_catalog_severity_that_disagrees_with_the_rules(rs, tmp_path):
    text = (ROOT / "smmc/catalogs/meter_status_words.yaml").read_text(encoding="utf-8")
    block = text[text.index("    acronym: CAPE\n") :]
    block = block[: block.index("  - word:")]
    cat = _catalog_copy(tmp_path, block, block.replace("severity: warning", "severity: critical"))
    problems = lint.check_catalog_ladder(rs, ROOT, catalogs=cat)
    assert problems and all("flag CAPE severity critical" in p for p in problems)
    assert {p.split(":")[0] for p in problems} == {
        "MeterTamperDetected",
        "MeterTamperPersistent",
    }


def _copy_repo_with_catalogs(tmp_path: Path) -> Path:
    root = _copy_repo(tmp_path)
    shutil.copytree(
        ROOT / "smmc/catalogs", root / "smmc/catalogs", ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    return root


SKIP_SLOW = ["--skip", "promtool-test", "--skip", "inhibition", "--skip", "routes"]


def test_check_command_fails_on_a_flag_with_a_step_and_no_alert(tmp_path, capsys):
    root = _copy_repo_with_catalogs(tmp_path)
    thresholds = root / "rules/thresholds.yml"
    text = thresholds.read_text()
    assert "  protection_flags: [NPR, NPW]\n" in text
    thresholds.write_text(text.replace("  protection_flags: [NPR, NPW]\n", "  protection_flags: [NPR]\n"))
    assert cli.main(["--root", str(root), "generate"]) == 0
    capsys.readouterr()
    assert cli.main(["--root", str(root), "check", *SKIP_SLOW]) == 1
    out = capsys.readouterr().out
    assert (
        "FAIL  lint" in out
        and "flag NPW: meter_status_words.yaml gives it the maintenance step remote" in out
    )


def test_check_command_fails_on_a_catalog_alert_severity_or_rung_mismatch(tmp_path, capsys):
    root = _copy_repo_with_catalogs(tmp_path)
    meter = root / "smmc/catalogs/meter_status_words.yaml"
    text = meter.read_text(encoding="utf-8")
    block = text[text.index("    acronym: KP_ON\n") :]
    block = block[: block.index("  - word:")]
    changed = block.replace("severity: warning", "severity: info").replace(
        "maintenance: specialist", "maintenance: remote"
    )
    meter.write_text(text.replace(block, changed), encoding="utf-8")
    assert cli.main(["--root", str(root), "check", *SKIP_SLOW]) == 1
    out = capsys.readouterr().out
    assert "MeterProvisionalKeyActive: severity warning but meter_status_words.yaml gives flag KP_ON" in out
    assert "flag KP_ON: the rules start its ladder at specialist" in out


def test_causes_fire_before_their_effects(rs):
    """The router (and a SIM, a PLC failure) must fire before the concentrator and meter alerts it explains,
    or, when the daily files land together, the effects are delivered before their cause exists."""
    from dataclasses import replace

    assert checks.causes_fire_first(rs, ROOT) == []
    modem = rs.alert("ModemWithoutPresence")
    meters = rs.alert("MeterCommunicationAlarm")
    slow = replace(modem, for_seconds=meters.for_seconds)
    alerts = [slow if a.name == modem.name else a for a in rs.alerts]
    problems = checks.causes_fire_first(replace(rs, alerts=alerts), ROOT)
    assert any("MeterCommunicationAlarm" in p and "ModemWithoutPresence" in p for p in problems)
