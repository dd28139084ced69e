"""Render the generated files: rule files, promtool test files, docs/alerts.md, the metrics doc section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from smmc.artifacts import Artifacts, header
from smmc.rules import gotemplate
from smmc.rules.model import Alert, RuleSet, TestCase, format_duration

GENERATE = "smmc rules generate"
RULES_HEADER = header(GENERATE, "rules/thresholds.yml", "smmc rules check")
TESTS_HEADER = header(GENERATE, "rules/thresholds.yml and rules/tests/cases.yml", "smmc rules check")
# Where a file this generator made may be left over after an alert group or a test file goes away.
OWNED = ("rules/*.rules.yml", "rules/tests/*.test.yml")
RECORDING_FILE = "rules/recording.rules.yml"
METRICS_DOC = "docs/metrics.md"
METRICS_SECTION = "## Recording rules"


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_representer)


def _dump(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)


def rule_file_path(group: str) -> str:
    return f"rules/{group}.rules.yml"


def _alert_rule(a: Alert) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": a.name, "expr": a.expr}
    if a.for_seconds:
        rule["for"] = a.for_text
    rule["labels"] = dict(a.labels)
    rule["annotations"] = a.annotations()
    return rule


def rule_files(rs: RuleSet) -> dict[str, str]:
    out = {
        RECORDING_FILE: RULES_HEADER
        + _dump(
            {
                "groups": [
                    {
                        "name": "smmc-recording",
                        "rules": [{"record": r.record, "expr": r.expr} for r in rs.recording],
                    }
                ]
            }
        )
    }
    for group in rs.groups:
        alerts = [a for a in rs.alerts if a.group == group]
        doc = {"groups": [{"name": f"smmc-{group}", "rules": [_alert_rule(a) for a in alerts]}]}
        out[rule_file_path(group)] = RULES_HEADER + _dump(doc)
    return out


def expected_alert(a: Alert, case: TestCase | None = None) -> dict[str, Any]:
    case = case or a.fire
    assert case is not None
    labels = {**case.labels, **a.labels}
    annotations = {
        "summary": a.summary,
        "description": gotemplate.render(a.description, labels, case.value),
        "runbook_url": a.runbook_url,
        "action": a.action,
    }
    return {"exp_labels": labels, "exp_annotations": annotations}


def _series(case_series: dict[str, str]) -> list[dict[str, str]]:
    return [{"series": s, "values": v} for s, v in case_series.items()]


# Tests of alerts that need days of simulated time run at a coarser evaluation step (promtool evaluates
# every rule at every step from 0 to the last eval time); input series stay at one sample a minute.
SHORT_STEP = 60.0
LONG_STEP = 1800.0
LONG_AFTER = 6 * 3600.0


def step_for(a: Alert) -> float:
    evals = [c.eval_seconds for c in (*a.fires, *a.quiets)]
    return LONG_STEP if max(evals, default=0) > LONG_AFTER else SHORT_STEP


def _test(
    a: Alert, series: dict[str, str], eval_seconds: float, expected: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "interval": "1m",
        "input_series": _series(series),
        "alert_rule_test": [
            {"eval_time": format_duration(eval_seconds), "alertname": a.name, "exp_alerts": expected}
        ],
    }


def tests_for(a: Alert) -> list[dict[str, Any]]:
    step = step_for(a)
    tests: list[dict[str, Any]] = []
    if a.fire is not None:
        tests.append(_test(a, a.fire.series, a.fire.eval_seconds, [expected_alert(a)]))
        # Condition true, but not yet for the alert's whole `for`: pending, not firing.
        if a.for_seconds >= 2 * step and a.fire.eval_seconds == a.for_seconds + 300:
            tests.append(_test(a, a.fire.series, a.for_seconds - step, []))
    for case in a.more_fires:
        tests.append(_test(a, case.series, case.eval_seconds, [expected_alert(a, case)]))
    for case in a.quiets:
        tests.append(_test(a, case.series, case.eval_seconds, []))
    return tests


def test_files(rs: RuleSet) -> dict[str, str]:
    out = {}
    for group in rs.groups:
        for step, suffix in ((SHORT_STEP, ""), (LONG_STEP, "-days")):
            alerts = [a for a in rs.alerts if a.group == group and step_for(a) == step]
            if not alerts:
                continue
            tests: list[dict[str, Any]] = []
            for a in alerts:
                tests.extend(tests_for(a))
            doc = {
                "rule_files": ["../recording.rules.yml", f"../{group}.rules.yml"],
                "evaluation_interval": format_duration(step),
                # promtool evaluates groups in map order unless told: the alerts must read the recording
                # rules of the same step, not the previous one (30 minutes late in the -days files)
                "group_eval_order": ["smmc-recording", f"smmc-{group}"],
                "tests": tests,
            }
            path = f"rules/tests/{group}{suffix}.test.yml"
            out[path] = TESTS_HEADER + _dump(doc)
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


ALERTS_INTRO = """\
# Alerts

Generated by `smmc rules generate` from `rules/thresholds.yml` (the thresholds live there). Do not edit.

Severity: critical pages, warning reaches the NOC, info notifies nobody (the receiver still acts on the
rung). Maintenance is the rung of the seed's ladder: remote (SMMePlus command), specialist (JIRA SpringLab
ticket), field (SM04 meter, SM05 concentrator/router, SM15 field operations), scheduled (firmware and
configuration campaigns), support (a ticket to the support contract named by `contract`: the mobile
operator's SLA, OpenGate, the Cloudera data lake, SMMePlus), outage (grid operations), platform (the
monitoring itself), none (recorded only). Every step of the seed, with its route and queue:
[process.md](process.md). Routing and inhibition: [alertmanager.md](alertmanager.md). Each alert links its
runbook.
"""


def alerts_doc(rs: RuleSet) -> str:
    lines = [*ALERTS_INTRO.splitlines(), ""]
    for group in rs.groups:
        lines += [f"## {group.capitalize()}", ""]
        lines.append(
            "| alert | condition | for | severity | maintenance | team "
            "| procedure / command / contract | action |"
        )
        lines.append("|---|---|---|---|---|---|---|---|")
        for a in (a for a in rs.alerts if a.group == group):
            how = a.labels.get("procedure") or a.labels.get("command") or a.labels.get("contract") or ""
            lines.append(
                f"| [{a.name}](runbooks/{a.name}.md) | {_cell(a.condition)} | {a.for_text} "
                f"| {a.labels.get('severity', '')} | {a.labels.get('maintenance', '')} "
                f"| {a.labels.get('team', '')} | {how} | {_cell(a.action)} |"
            )
        lines.append("")
    return "\n".join(lines)


METRICS_INTRO = """\
Generated from `rules/thresholds.yml` into `rules/recording.rules.yml` (`smmc rules generate` rewrites this
section). Names follow `level:metric:operation`: the level lists the labels kept, the operation says how the
source was aggregated (`increase1d` = increase over one day, the cadence of the daily files). Dashboards read
these instead of aggregating 500,000 meters at query time.
"""
# Label names a recording rule's level may join with "_" (the level names the labels the rule keeps).
LEVEL_LABELS = (
    "concentrator",
    "category",
    "maintenance",
    "comuna",
    "priority",
    "severity",
    "source",
    "outcome",
)
LEVEL_LABELS += ("flag", "modem", "rule")


def level_labels(record: str) -> list[str] | None:
    """The labels a recording rule's level names, or None when the level is not made of known labels."""
    rest, labels = record.split(":")[0], []
    while rest:
        label = next((k for k in LEVEL_LABELS if rest == k or rest.startswith(k + "_")), None)
        if label is None:
            return None
        labels.append(label)
        rest = rest[len(label) + 1 :]
    return labels


def metrics_section(rs: RuleSet) -> str:
    lines = [METRICS_SECTION, "", *METRICS_INTRO.splitlines(), "", "| name | type | labels | meaning |"]
    lines.append("|---|---|---|---|")
    for r in rs.recording:
        labels = ", ".join(f"`{x}`" for x in level_labels(r.record) or [])
        lines.append(f"| `{r.record}` | gauge | {labels} | {_cell(r.help)} |")
    return "\n".join(lines) + "\n"


def metrics_doc(current: str, rs: RuleSet) -> str:
    """docs/metrics.md with the "Recording rules" section replaced (other sections untouched)."""
    start = current.find(METRICS_SECTION)
    section = metrics_section(rs)
    if start < 0:
        return current.rstrip("\n") + "\n\n" + section
    nxt = current.find("\n## ", start + len(METRICS_SECTION))
    tail = current[nxt + 1 :] if nxt >= 0 else ""
    return current[:start] + section + ("\n" + tail if tail else "")


def generated(rs: RuleSet, root: Path) -> dict[str, str]:
    """Every generated file, path relative to the repository -> content."""
    out: dict[str, str] = {}
    out.update(rule_files(rs))
    out.update(test_files(rs))
    out["docs/alerts.md"] = alerts_doc(rs)
    metrics_path = root / METRICS_DOC
    current = metrics_path.read_text(encoding="utf-8") if metrics_path.exists() else "# Metrics reference\n"
    out[METRICS_DOC] = metrics_doc(current, rs)
    return out


def artifacts(rs: RuleSet, root: Path) -> Artifacts:
    """The generated files as one set: written by `smmc rules generate`, checked by `smmc rules check`."""
    return Artifacts(root, generated(rs, root), GENERATE, owns=OWNED, marked=True)
