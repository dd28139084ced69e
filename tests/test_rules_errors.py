"""A one-character typo in rules/thresholds.yml: `smmc rules generate` refuses to write it (one line, the
first problem), `smmc rules check` reports it once and skips the steps that would only repeat it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from smmc.rules.checks import STEP_NAMES
from smmc.rules.model import load
from smmc.rules.validate import first_problem, problems
from smmc.stack.processes import smmc_command

REPO = Path(__file__).resolve().parents[1]
TYPO_ALERT = "MeterTamperDetected"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for part in ("rules", "alertmanager", "docs"):
        shutil.copytree(REPO / part, tmp_path / part)
    thresholds = tmp_path / "rules" / "thresholds.yml"
    text = thresholds.read_text(encoding="utf-8")
    start = text.index(f"- alert: {TYPO_ALERT}")
    line_end = text.index("\n", text.index("expr:", start))
    expr_line = text[start:line_end]
    assert expr_line.endswith(") > 0")
    thresholds.write_text(text[: line_end - 3] + "> > 0" + text[line_end:], encoding="utf-8")
    return tmp_path


def smmc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*smmc_command(), *args], capture_output=True, text=True, timeout=300, check=False)


def test_the_repository_rules_parse_and_render() -> None:
    assert list(problems(load(REPO))) == []


def test_generate_refuses_a_rule_that_does_not_parse_and_writes_nothing(root: Path) -> None:
    before = {p: p.read_bytes() for p in (root / "rules").rglob("*") if p.is_file()}
    result = smmc("rules", "--root", str(root), "generate")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"smmc rules generate: rules/thresholds.yml: {TYPO_ALERT}: PromQL does not parse"
    )
    assert "nothing written" in lines[0]
    assert {p: p.read_bytes() for p in (root / "rules").rglob("*") if p.is_file()} == before
    assert first_problem(load(root)) is not None


def test_check_reports_the_typo_once_and_nothing_misleading(root: Path) -> None:
    result = smmc("rules", "--root", str(root), "check")
    assert result.returncode == 1
    out = result.stdout
    assert out.count(TYPO_ALERT) == 1, out
    assert "FAIL  parse" in out
    assert all(line.strip() for line in out.splitlines()), "blank lines in the report"
    assert "ladder" not in out  # the lint's conclusions about a rule set with a hole in it
    assert "SKIP  promtool-check" in out
    # the header, the parse step and its one problem, one line per other step, the summary: nothing repeated
    assert len(out.splitlines()) <= len(STEP_NAMES) + 4, out


def test_a_template_that_does_not_render_is_a_problem(root: Path) -> None:
    thresholds = root / "rules" / "thresholds.yml"
    text = thresholds.read_text(encoding="utf-8").replace("> > 0", "> 0", 1)
    text = text.replace(
        "Meter {{ $labels.meter }} on concentrator", "Meter {{ $labels.meter on concentrator", 1
    )
    thresholds.write_text(text, encoding="utf-8")
    problem = first_problem(load(root))
    assert problem is not None and "template does not render" in problem, problem
