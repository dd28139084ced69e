"""Load rules/thresholds.yml and rules/tests/cases.yml into alert and recording-rule definitions.

`${name}` is replaced by a parameter (alert-local first, then global; a list becomes `a|b|c`);
`$( ... )` in a test case is arithmetic over the parameters, durations counted in seconds.
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smmc.repo import REPO_ROOT
from smmc.yamlfile import read_mapping

THRESHOLDS = Path("rules/thresholds.yml")
CASES = Path("rules/tests/cases.yml")

_PARAM = re.compile(r"\$\{(\w+)\}")
_ARITH = re.compile(r"\$\(([^()]*(?:\([^()]*\)[^()]*)*)\)")
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w|y)$")
_DURATION_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


class RulesError(Exception):
    """A problem in thresholds.yml or cases.yml, with where it is."""


def duration_seconds(text: str | int | float) -> float:
    if isinstance(text, int | float):
        return float(text)
    m = _DURATION.match(str(text).strip())
    if not m:
        raise RulesError(f"not a Prometheus duration: {text!r}")
    return int(m.group(1)) * _DURATION_SECONDS[m.group(2)]


def format_duration(seconds: float) -> str:
    """Shortest exact Prometheus duration (`90m` -> `1h30m` is not used: one unit, largest that divides)."""
    s = int(seconds)
    if s != seconds:
        raise RulesError(f"duration {seconds} is not a whole number of seconds")
    if s == 0:
        return "0s"
    for unit in ("d", "h", "m"):
        if s % _DURATION_SECONDS[unit] == 0:
            return f"{s // _DURATION_SECONDS[unit]}{unit}"
    return f"{s}s"


def _param_text(value: Any) -> str:
    if isinstance(value, list):
        return "|".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def substitute(text: str, params: dict[str, Any], where: str) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in params:
            raise RulesError(f"{where}: unknown parameter ${{{name}}}")
        return _param_text(params[name])

    return _PARAM.sub(repl, text)


_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
}


def arithmetic(expr: str, env: dict[str, float], where: str) -> float:
    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in env:
                raise RulesError(f"{where}: unknown name {node.id!r} in $({expr})")
            return env[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        raise RulesError(f"{where}: unsupported arithmetic in $({expr})")

    try:
        return ev(ast.parse(expr, mode="eval"))
    except SyntaxError as exc:
        raise RulesError(f"{where}: cannot parse $({expr}): {exc.msg}") from None


def number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def expand(text: Any, params: dict[str, Any], env: dict[str, float], where: str) -> str:
    """Substitute `${param}` then evaluate every `$( ... )`."""
    out = substitute(str(text), params, where)
    return _ARITH.sub(lambda m: number_text(arithmetic(m.group(1), env, where)), out)


@dataclass(frozen=True)
class RecordingRule:
    record: str
    expr: str
    help: str


@dataclass(frozen=True)
class TestCase:
    series: dict[str, str]  # series selector -> promtool values (expanded)
    eval_seconds: float
    labels: dict[str, str] = field(default_factory=dict)
    value: float | None = None


@dataclass(frozen=True)
class Alert:
    name: str
    group: str
    expr: str
    for_seconds: float
    labels: dict[str, str]
    condition: str
    summary: str
    description: str
    action: str
    runbook_url: str
    params: dict[str, Any]
    fire: TestCase | None = None
    quiet: TestCase | None = None
    # further cases when one signal has several ways to fire or to stay quiet (`fire:`/`quiet:` as a list)
    more_fires: tuple[TestCase, ...] = ()
    more_quiets: tuple[TestCase, ...] = ()

    @property
    def fires(self) -> tuple[TestCase, ...]:
        return ((self.fire,) if self.fire is not None else ()) + self.more_fires

    @property
    def quiets(self) -> tuple[TestCase, ...]:
        return ((self.quiet,) if self.quiet is not None else ()) + self.more_quiets

    @property
    def for_text(self) -> str:
        return format_duration(self.for_seconds)

    def annotations(self) -> dict[str, str]:
        return {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": self.runbook_url,
            "action": self.action,
        }


@dataclass(frozen=True)
class RuleSet:
    runbook_base_url: str
    params: dict[str, Any]
    recording: list[RecordingRule]
    alerts: list[Alert]
    groups: list[str]

    def alert(self, name: str) -> Alert:
        for a in self.alerts:
            if a.name == name:
                return a
        raise KeyError(name)


def _numeric_env(params: dict[str, Any]) -> dict[str, float]:
    env: dict[str, float] = {}
    for k, v in params.items():
        if isinstance(v, bool):
            continue
        if isinstance(v, int | float):
            env[k] = float(v)
        elif isinstance(v, str) and _DURATION.match(v):
            env[k] = duration_seconds(v)
    return env


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())


def _case(
    raw: Any, params: dict[str, Any], env: dict[str, float], where: str, default_eval: float
) -> TestCase:
    if not isinstance(raw, dict) or "series" not in raw:
        raise RulesError(f"{where}: a case needs `series`")
    eval_s = default_eval
    if "eval" in raw:
        eval_text = expand(raw["eval"], params, env, where)
        eval_s = duration_seconds(eval_text) if _DURATION.match(eval_text) else float(eval_text)
    env = {**env, "eval_s": eval_s}
    steps = int(eval_s // 60) + 2
    series: dict[str, str] = {}
    for selector, values in (raw.get("series") or {}).items():
        text = expand(values, params, env, f"{where} series {selector}")
        if re.fullmatch(r"-?[\d.e+]+", text.strip()):
            text = f"{text.strip()}+0x{steps}"
        series[expand(selector, params, env, where)] = text
    labels = {k: expand(v, params, env, where) for k, v in (raw.get("labels") or {}).items()}
    value = None
    if "value" in raw:
        value = float(expand(raw["value"], params, env, where))
    return TestCase(series=series, eval_seconds=eval_s, labels=labels, value=value)


def _cases(
    raw: Any, params: dict[str, Any], env: dict[str, float], where: str, default_eval: float
) -> list[TestCase]:
    """One case (a mapping) or several (a list of mappings); none when absent."""
    if raw is None:
        return []
    if isinstance(raw, list):
        if not raw:
            raise RulesError(f"{where}: an empty list of cases")
        return [_case(item, params, env, f"{where}[{i}]", default_eval) for i, item in enumerate(raw)]
    return [_case(raw, params, env, where, default_eval)]


def load(root: Path = REPO_ROOT) -> RuleSet:
    path = root / THRESHOLDS
    doc = read_mapping(path, RulesError)
    cases_path = root / CASES
    cases = read_mapping(cases_path, RulesError, empty_ok=True)
    base = str(doc.get("runbook_base_url", "")).rstrip("/")
    gparams: dict[str, Any] = dict(doc.get("params") or {})
    recording = [
        RecordingRule(record=r["record"], expr=str(r["expr"]).strip(), help=_one_line(r.get("help", "")))
        for r in doc.get("recording") or []
    ]
    alerts: list[Alert] = []
    groups = list((doc.get("groups") or {}).keys())
    for group, entries in (doc.get("groups") or {}).items():
        for raw in entries or []:
            name = raw.get("alert")
            where = f"{path.name}: alert {name or '?'}"
            missing = [
                k
                for k in ("alert", "expr", "for", "labels", "condition", "summary", "description", "action")
                if k not in raw
            ]
            if missing:
                raise RulesError(f"{where}: missing {', '.join(missing)}")
            params = {**gparams, **(raw.get("params") or {})}
            for_s = duration_seconds(raw["for"])
            env = {**_numeric_env(params), "for_s": for_s}
            case = cases.get(name) or {}
            default_eval = for_s + 300
            fires = _cases(case.get("fire"), params, env, f"cases.yml {name}.fire", default_eval)
            quiets = _cases(case.get("quiet"), params, env, f"cases.yml {name}.quiet", default_eval)
            alerts.append(
                Alert(
                    name=name,
                    group=group,
                    expr=substitute(str(raw["expr"]).strip(), params, where),
                    for_seconds=for_s,
                    labels={k: str(v) for k, v in raw["labels"].items()},
                    condition=substitute(_one_line(raw["condition"]), params, where),
                    summary=_one_line(raw["summary"]),
                    description=_one_line(raw["description"]),
                    action=_one_line(raw["action"]),
                    runbook_url=f"{base}/{name}.md",
                    params=params,
                    fire=fires[0] if fires else None,
                    quiet=quiets[0] if quiets else None,
                    more_fires=tuple(fires[1:]),
                    more_quiets=tuple(quiets[1:]),
                )
            )
    unknown = sorted(set(cases) - {a.name for a in alerts})
    if unknown:
        raise RulesError(f"{cases_path}: cases for alerts that do not exist: {', '.join(unknown)}")
    return RuleSet(runbook_base_url=base, params=gparams, recording=recording, alerts=alerts, groups=groups)
