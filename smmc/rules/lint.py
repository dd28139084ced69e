"""Policy checks on the rules: names, labels, annotations, runbooks, test cases, metrics documented, and
the meter-flag catalog's `maintenance` as the first rung of each flag's alerts.

Each check returns human-readable problems; an empty list means the rules pass.
"""

from __future__ import annotations

import re
from pathlib import Path

import promql_parser

from smmc.rules import gotemplate, render
from smmc.rules.model import RuleSet

SEVERITIES = {"critical", "warning", "info"}
# remote / specialist / field / scheduled: the seed's ladder; support: a system run under a support contract
# (the `contract` label says which); outage: grid operations; platform: the monitoring itself; none: recorded.
MAINTENANCE = {"remote", "specialist", "field", "scheduled", "support", "outage", "platform", "none"}
TEAMS = {
    "metering",
    "specialist",
    "field-ops",
    "telecom",
    "data-platform",
    "smmeplus-support",
    "grid-ops",
    "observability",
}
PROCEDURES = {"SM04", "SM05", "SM15"}
# the support contracts of the seed: the mobile operator (M2M, by SLA incident), OpenGate's external
# support, the data lake's (Cloudera) and SMMePlus's (Azure) global contracts
CONTRACTS = {"m2m-operator", "opengate", "cloudera", "smmeplus"}
COMMANDS = {
    "time_sync",
    "retry_last_activity",
    "concentrator_modification",
    "concentrator_status_check",
    "recommission_meter",
    "meter_status_check",
}
OBJECT_LABELS = (
    "concentrator",
    "meter",
    "modem",
    "job",
    "flag",
    "category",
    "resourceName",
    "kind",
    "host",
    "service",
)
# Series Prometheus itself produces; everything else must be documented in docs/metrics.md.
PROMETHEUS_BUILTINS = {
    "up",
    "ALERTS",
    "ALERTS_FOR_STATE",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
}
RUNBOOK_SECTIONS = ("## Meaning", "## Impact", "## Diagnosis", "## Mitigation")
NO_QUIET_CASE = {"Watchdog"}  # always fires by design

_CAMEL = re.compile(r"^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*$")
_RECORD = re.compile(r"^[a-z_]*:[a-z_][a-z0-9_]*:[a-z0-9_]+$")
_DOC_METRIC = re.compile(r"^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|", re.MULTILINE)


def documented_metrics(metrics_md: Path) -> set[str]:
    if not metrics_md.exists():
        return set()
    return set(_DOC_METRIC.findall(metrics_md.read_text(encoding="utf-8")))


def metric_names(expr: str) -> set[str]:
    """Every metric name a PromQL expression selects (parsed, not grepped)."""
    names: set[str] = set()
    for selector in _selectors(expr):
        if selector.name:
            names.add(selector.name)
        names.update(m.value for m in selector.matchers.matchers if m.name == "__name__")
    return names


def check_metrics_documented(rs: RuleSet, metrics_md: Path) -> list[str]:
    documented = documented_metrics(metrics_md)
    recorded = {r.record for r in rs.recording}
    known = documented | recorded | PROMETHEUS_BUILTINS
    problems = []
    exprs = [(f"recording rule {r.record}", r.expr) for r in rs.recording]
    exprs += [(f"alert {a.name}", a.expr) for a in rs.alerts]
    for where, expr in exprs:
        try:
            names = metric_names(expr)
        except Exception:
            continue  # a parse error: reported by the parse step (validate), which runs first
        for name in sorted(names - known):
            problems.append(f"{where} reads `{name}`, which no exporter documents in {metrics_md.name}")
    return problems


def check_naming(rs: RuleSet) -> list[str]:
    problems = []
    seen: set[str] = set()
    for r in rs.recording:
        if not _RECORD.match(r.record):
            problems.append(f"recording rule {r.record}: name is not level:metric:operation")
        elif render.level_labels(r.record) is None:
            problems.append(f"recording rule {r.record}: level is not made of known label names")
        if not r.help:
            problems.append(f"recording rule {r.record}: no help text for docs/metrics.md")
    for a in rs.alerts:
        if a.name in seen:
            problems.append(f"{a.name}: defined twice")
        seen.add(a.name)
        if not _CAMEL.match(a.name):
            problems.append(f"{a.name}: alert names are CamelCase")
        labels = a.labels
        if labels.get("severity") not in SEVERITIES:
            problems.append(f"{a.name}: severity {labels.get('severity')!r} not in {sorted(SEVERITIES)}")
        if labels.get("maintenance") not in MAINTENANCE:
            problems.append(
                f"{a.name}: maintenance {labels.get('maintenance')!r} not in {sorted(MAINTENANCE)}"
            )
        if labels.get("team") not in TEAMS:
            problems.append(f"{a.name}: team {labels.get('team')!r} not in {sorted(TEAMS)}")
        if "procedure" in labels and labels["procedure"] not in PROCEDURES:
            problems.append(f"{a.name}: procedure {labels['procedure']!r} not in {sorted(PROCEDURES)}")
        if labels.get("maintenance") == "field" and "procedure" not in labels:
            problems.append(f"{a.name}: a field alert names its procedure (SM04, SM05, SM15)")
        if labels.get("maintenance") == "support":
            if labels.get("contract") not in CONTRACTS:
                problems.append(f"{a.name}: a support alert needs contract in {sorted(CONTRACTS)}")
        elif "contract" in labels:
            problems.append(f"{a.name}: contract is only for maintenance=support")
        if labels.get("maintenance") == "specialist" and labels.get("team") != "specialist":
            problems.append(
                f"{a.name}: maintenance=specialist is the specialist team's queue (JIRA SpringLab): "
                "team specialist"
            )
        if labels.get("maintenance") == "remote":
            if labels.get("command") not in COMMANDS:
                problems.append(f"{a.name}: a remote alert needs command in {sorted(COMMANDS)}")
        elif "command" in labels:
            problems.append(f"{a.name}: command is only for maintenance=remote")
        if not a.summary or "{{" in a.summary:
            problems.append(f"{a.name}: summary must be a static sentence")
        if not a.description:
            problems.append(f"{a.name}: no description")
        for text, what in ((a.description, "description"), (a.action, "action"), (a.summary, "summary")):
            for bad in gotemplate.check(text):
                problems.append(f"{a.name}: {what} uses an unsupported template action {{{{ {bad} }}}}")
        if "{{" not in a.description and a.name not in NO_QUIET_CASE:
            problems.append(f"{a.name}: the description should show the values ({{{{ $labels.x }}}})")
        if not a.action:
            problems.append(f"{a.name}: no action annotation")
    return problems


def check_tests(rs: RuleSet) -> list[str]:
    problems = []
    for a in rs.alerts:
        if a.fire is None:
            problems.append(f"{a.name}: no firing test case in rules/tests/cases.yml")
        elif a.name not in NO_QUIET_CASE and not any(a.fire.labels.get(k) for k in OBJECT_LABELS):
            problems.append(f"{a.name}: the alert carries none of the object labels {OBJECT_LABELS}")
        if a.quiet is None and a.name not in NO_QUIET_CASE:
            problems.append(f"{a.name}: no at-threshold (quiet) test case in rules/tests/cases.yml")
    return problems


# The catalog's rungs an alert's `maintenance` can name (outage and platform alerts are not a flag's ladder).
CATALOG_RUNGS = {"remote", "specialist", "field", "scheduled"}
_WORDS = re.compile(r"^\w+(?:\|\w+)*$")


def _selectors(expr: str) -> list[promql_parser.VectorSelector]:
    """Every vector selector of a PromQL expression (those inside range selectors included)."""
    found: list[promql_parser.VectorSelector] = []
    promql_parser.walk(
        promql_parser.parse(expr),
        lambda node: found.append(node) if isinstance(node, promql_parser.VectorSelector) else None,
    )
    return found


def _is_meter_flag_metric(name: str | None) -> bool:
    """smmc_meter_flag_active, smmc_meters_with_active_flag, ... and recording rules made from them."""
    parts = (name or "").split(":")
    return (parts[1] if len(parts) == 3 else parts[0]).startswith("smmc_meter")


def _matches(op: promql_parser.MatchOp, pattern: str, value: str) -> bool:
    if op == promql_parser.MatchOp.Equal:
        return value == pattern
    if op == promql_parser.MatchOp.NotEqual:
        return value != pattern
    hit = re.fullmatch(pattern, value) is not None
    return hit if op == promql_parser.MatchOp.Re else not hit


def flags_selected(expr: str, acronyms: list[str]) -> tuple[set[str], set[str]]:
    """(catalog flags a rule selects by a `flag` matcher on a meter-flag metric, names it spells that the
    catalog does not list). A selector without a `flag` matcher is about all flags together: not counted."""
    selected: set[str] = set()
    unknown: set[str] = set()
    for selector in _selectors(expr):
        if not _is_meter_flag_metric(selector.name):
            continue
        for m in selector.matchers.matchers:
            if m.name != "flag":
                continue
            selected |= {a for a in acronyms if _matches(m.op, m.value, a)}
            if m.op in (promql_parser.MatchOp.Equal, promql_parser.MatchOp.Re) and _WORDS.match(m.value):
                unknown |= set(m.value.split("|")) - set(acronyms)
    return selected, unknown


def _catalogs(root: Path):
    from smmc.catalogs import load_catalogs

    base = root / "smmc" / "catalogs"
    return load_catalogs(base_dir=base) if (base / "meter_status_words.yaml").exists() else load_catalogs()


def check_catalog_ladder(rs: RuleSet, root: Path, catalogs=None) -> list[str]:
    """The rules and the meter-flag catalog tell one ladder, with one severity:
    - every flag the catalog gives a maintenance step (not `none`) is selected by an alert on the ladder;
    - the alert with the shortest `for` among those selecting a flag is on the rung the catalog's
      `maintenance` names (its first rung);
    - every ladder alert selecting a flag carries the catalog's `severity` for it.
    Outage and platform alerts (GridOutage reads PUP) are not a flag's ladder and are not compared."""
    from smmc.catalogs import CatalogError

    try:
        cat = catalogs or _catalogs(root)
    except CatalogError as exc:
        return [f"meter flag catalog: {exc}"]
    by_flag = {f.acronym: f for f in cat.meter_flags}
    acronyms = sorted(by_flag)
    problems = []
    rungs: dict[str, list] = {}
    for a in rs.alerts:
        try:
            selected, unknown = flags_selected(a.expr, acronyms)
        except Exception:
            continue  # a parse error: reported by the parse step (validate), which runs first
        for name in sorted(unknown):
            problems.append(f"{a.name}: selects flag {name!r}, which meter_status_words.yaml does not list")
        if a.labels.get("maintenance") in CATALOG_RUNGS:
            for flag in selected:
                rungs.setdefault(flag, []).append(a)
                if a.labels.get("severity") != by_flag[flag].severity:
                    problems.append(
                        f"{a.name}: severity {a.labels.get('severity')} but meter_status_words.yaml gives "
                        f"flag {flag} severity {by_flag[flag].severity}; make them agree"
                    )
    for flag in acronyms:
        step = by_flag[flag].maintenance
        if step != "none" and flag not in rungs:
            problems.append(
                f"flag {flag}: meter_status_words.yaml gives it the maintenance step {step}, but no alert "
                f"selects it; add it to an alert family in rules/thresholds.yml (or set maintenance: none)"
            )
    for flag in sorted(rungs):
        shortest = min(a.for_seconds for a in rungs[flag])
        first = [a for a in rungs[flag] if a.for_seconds == shortest]
        named = {a.labels["maintenance"] for a in first}
        which = ", ".join(f"{a.name} ({a.labels['maintenance']})" for a in first)
        if len(named) > 1:
            problems.append(
                f"flag {flag}: its first alerts (for {first[0].for_text}) disagree on the rung: {which}"
            )
        elif (rung := named.pop()) != by_flag[flag].maintenance:
            problems.append(
                f"flag {flag}: the rules start its ladder at {rung} ({which}, for {first[0].for_text}) but "
                f"meter_status_words.yaml says maintenance: {by_flag[flag].maintenance}; make them agree"
            )
    return problems


def check_runbooks(rs: RuleSet, root: Path) -> list[str]:
    problems = []
    for a in rs.alerts:
        if not a.runbook_url.endswith(f"/docs/runbooks/{a.name}.md"):
            problems.append(f"{a.name}: runbook_url must point at docs/runbooks/{a.name}.md")
        path = root / "docs" / "runbooks" / f"{a.name}.md"
        if not path.exists():
            problems.append(f"{a.name}: missing runbook {path.relative_to(root)}")
            continue
        text = path.read_text(encoding="utf-8")
        for section in RUNBOOK_SECTIONS:
            if section not in text:
                problems.append(f"{a.name}: runbook lacks a '{section}' section")
    return problems


def run(rs: RuleSet, root: Path) -> list[str]:
    return (
        check_naming(rs)
        + check_tests(rs)
        + check_runbooks(rs, root)
        + check_metrics_documented(rs, root / "docs" / "metrics.md")
        + check_catalog_ladder(rs, root)
    )
