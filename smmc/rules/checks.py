"""`smmc rules check`: every check an SRE needs before pushing a rule change, with readable output."""

from __future__ import annotations

import glob
import re
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from smmc.rules import lint, render, routing, tools, validate
from smmc.rules.model import RulesError, RuleSet, format_duration, load
from smmc.yamlfile import read_mapping


def stale_files(rs: RuleSet, root: Path) -> list[str]:
    """Generated files whose committed content differs from what thresholds.yml gives now."""
    problems = render.artifacts(rs, root).stale()
    if problems:
        problems.append(f"run `{render.GENERATE}` and commit the result")
    return problems


def promtool_check(rs: RuleSet, root: Path) -> list[str]:
    files = sorted(glob.glob(str(root / "rules/*.rules.yml")))
    result = tools.run([tools.promtool(), "check", "rules", *files])
    return (
        [] if result.returncode == 0 else [f"promtool check rules:\n{result.stdout}{result.stderr}".rstrip()]
    )


def promtool_test(rs: RuleSet, root: Path) -> list[str]:
    files = sorted(glob.glob(str(root / "rules/tests/*.test.yml")))
    if not files:
        return ["no promtool test files in rules/tests/"]
    result = tools.run([tools.promtool(), "test", "rules", *files], cwd=root / "rules/tests")
    if result.returncode == 0:
        return []
    return [f"promtool test rules:\n{result.stdout}{result.stderr}".rstrip()]


def amtool_check(rs: RuleSet, root: Path) -> list[str]:
    result = tools.run([tools.amtool(), "check-config", str(root / routing.CONFIG)])
    return (
        [] if result.returncode == 0 else [f"amtool check-config:\n{result.stdout}{result.stderr}".rstrip()]
    )


class StepSkipped(Exception):
    """The step cannot run on this machine; the reason is printed and the check does not fail for it."""


def inhibition_check(rs: RuleSet, root: Path) -> list[str]:
    try:
        tools.alertmanager()
    except tools.ToolMissing as exc:
        # a plain `pip install .` has no Alertmanager: the scenario still runs in the tests and in CI
        raise StepSkipped(str(exc)) from exc
    # Imported here: the scenario starts a real Alertmanager, which `rules generate` never needs.
    from smmc.rules import inhibition

    return inhibition.run(rs, root)[2]


_ALERTNAME_MATCHER = re.compile(r'^alertname\s*(=~|=)\s*"?([^"]*)"?$')


def _inhibit_rule_names(root: Path) -> list[tuple[list[str], list[str]]]:
    """Per inhibit rule of alertmanager.yml, the alertnames its source and its target matchers name."""

    def named(matchers: list[str]) -> list[str]:
        hits = (_ALERTNAME_MATCHER.match(m) for m in matchers)
        return [n for hit in hits if hit for n in hit.group(2).split("|") if n]

    doc = read_mapping(root / routing.CONFIG, RulesError)
    return [
        (named(rule.get("source_matchers") or []), named(rule.get("target_matchers") or []))
        for rule in doc.get("inhibit_rules") or []
    ]


def inhibit_names(rs: RuleSet, root: Path) -> list[str]:
    """Every alertname an inhibit rule names exists in the rules (a rename would silently disable it)."""
    names = {a.name for a in rs.alerts}
    return [
        f"inhibit rule {i + 1} names alert {name!r}, which no rule defines"
        for i, (sources, targets) in enumerate(_inhibit_rule_names(root), 1)
        for name in sources + targets
        if name not in names
    ]


def causes_fire_first(rs: RuleSet, root: Path) -> list[str]:
    """For each inhibit rule that names its alerts, the fastest cause fires before each effect (a shorter
    `for`): otherwise, when the daily files land together, the effect is delivered before its cause exists.
    Effects that fire on a daily report's arrival (`for: 0m`) are exempt: their report lands a day after."""
    by_name = {a.name: a for a in rs.alerts}
    problems = []
    for i, (named_sources, named_targets) in enumerate(_inhibit_rule_names(root), 1):
        sources = [n for n in named_sources if n in by_name]
        if not sources:
            continue
        fastest = min(by_name[n].for_seconds for n in sources)
        for n in (n for n in named_targets if n in by_name):
            target = by_name[n]
            if target.for_seconds and target.for_seconds <= fastest:
                problems.append(
                    f"inhibit rule {i}: {n} (for {target.for_text}) can fire before its cause "
                    f"({', '.join(sources)}, fastest for {format_duration(fastest)}); "
                    "give the cause a shorter for"
                )
    return problems


STEPS: list[tuple[str, str, Callable[[RuleSet, Path], list[str]]]] = [
    ("stale", "generated files match rules/thresholds.yml", stale_files),
    (
        "lint",
        "names, labels, annotations, runbooks, test cases, documented metrics, catalog rungs",
        lambda rs, r: lint.run(rs, r),
    ),
    ("promtool-check", "promtool check rules", promtool_check),
    ("promtool-test", "promtool test rules (fires / at threshold / pending)", promtool_test),
    ("amtool-check", "amtool check-config", amtool_check),
    ("inhibit-names", "inhibit rules name existing alerts", inhibit_names),
    ("causes-first", "an inhibition's cause fires before its effects (shorter for)", causes_fire_first),
    ("routes", "amtool config routes test, one per alert", lambda rs, r: routing.check(rs, r)),
    ("inhibition", "inhibition scenario on a real Alertmanager", inhibition_check),
]
STEP_NAMES = tuple(s[0] for s in STEPS)


def tidy(text: str) -> list[str]:
    """A tool's report as lines: no blank lines, and a line repeated N times shown once with the count."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if line.strip():
            counts[line.rstrip()] = counts.get(line.rstrip(), 0) + 1
    return [line if n == 1 else f"{line}  ({n} times)" for line, n in counts.items()]


def run_all(root: Path, skip: set[str], out: TextIO) -> int:
    rs = load(root)
    print(f"rules/thresholds.yml: {len(rs.alerts)} alerts, {len(rs.recording)} recording rules", file=out)
    broken = list(validate.problems(rs))
    print(
        f"{'FAIL' if broken else 'ok':<5} {'parse':<15} PromQL parses, annotation templates render", file=out
    )
    for problem in broken:
        print("      " + problem, file=out)
    if broken:
        # every later step would only report the same problems again, some of them misleadingly
        for name, what, _step in STEPS:
            print(f"SKIP  {name:<15} {what} (fix the parse problems first)", file=out)
        print(f"{len(broken)} problem(s): rules/thresholds.yml does not parse", file=out)
        return 1
    failed = 0
    for name, what, step in STEPS:
        if name in skip:
            print(f"SKIP  {name:<15} {what} (--skip)", file=out)
            continue
        try:
            problems = step(rs, root)
        except StepSkipped as exc:
            print(f"SKIP  {name:<15} {what} ({exc})", file=out, flush=True)
            continue
        except tools.ToolMissing as exc:
            problems = [str(exc)]
        status = "ok" if not problems else "FAIL"
        print(f"{status:<5} {name:<15} {what}", file=out, flush=True)
        for p in problems:
            for line in tidy(p):
                print("      " + line, file=out)
        failed += bool(problems)
    print("all checks passed" if not failed else f"{failed} check(s) failed", file=out)
    return 1 if failed else 0
