"""What `smmc rules generate` checks before it writes anything, and `smmc rules check` runs first: every
expression parses as PromQL and every annotation template renders. One problem is one line; a rule set
that fails here is not worth linting or handing to promtool (their reports would only repeat it)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import promql_parser
import yaml

from smmc.rules import gotemplate
from smmc.rules.model import RuleSet

_SAMPLE_VALUE = 1.0
_PROMTOOL_PARSE_ERROR = re.compile(r"could not parse expression: (.*)$", re.MULTILINE)


def _parse_detail(expr: str) -> str:
    """Where the expression breaks, from promtool when it is installed (promql_parser only says that it
    does not parse)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        return "invalid PromQL"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "one.rules.yml"
        path.write_text(
            yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "r", "expr": expr}]}]}),
            encoding="utf-8",
        )
        result = subprocess.run(
            [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
        )
    found = _PROMTOOL_PARSE_ERROR.search(result.stdout + result.stderr)
    return found.group(1).strip() if found else "invalid PromQL"


def _parse(expr: str) -> str | None:
    try:
        promql_parser.parse(expr)
    except Exception:  # the parser raises its own exception types
        return _parse_detail(expr)
    return None


def _template_problem(text: str) -> str | None:
    if text.count("{{") != text.count("}}"):
        return "unbalanced {{ }}"
    try:
        gotemplate.render(text, {}, _SAMPLE_VALUE)
    except gotemplate.TemplateError as exc:
        return str(exc)
    return None


def problems(rs: RuleSet) -> Iterator[str]:
    """Each problem as one line, in the order of rules/thresholds.yml (recording rules first)."""
    for rule in rs.recording:
        detail = _parse(rule.expr)
        if detail:
            yield f"recording rule {rule.record}: PromQL does not parse: {detail}"
    for alert in rs.alerts:
        detail = _parse(alert.expr)
        if detail:
            yield f"{alert.name}: PromQL does not parse: {detail}"
        for name, text in alert.annotations().items():
            detail = _template_problem(text)
            if detail:
                yield f"{alert.name}: the {name} template does not render: {detail}"


def first_problem(rs: RuleSet) -> str | None:
    return next(problems(rs), None)
