"""The subset of Prometheus' Go alert templates that the annotations here use, rendered in Python.

The promtool tests need each alert's annotations exactly as Prometheus renders them; the generator
renders them with this and promtool then checks the result against the real engine. The lint rejects
any template action outside this subset, so the two cannot silently diverge.
"""

from __future__ import annotations

import re

_ACTION = re.compile(r"\{\{(.*?)\}\}")
_LABEL = re.compile(r"^\$labels\.(\w+)$")
_PRINTF = re.compile(r'^printf\s+"%\.(\d)f"\s+\$value$')
_PERCENT = re.compile(r"^\$value\s*\|\s*humanizePercentage$")


class TemplateError(ValueError):
    pass


def actions(template: str) -> list[str]:
    return [m.group(1).strip() for m in _ACTION.finditer(template)]


def check(template: str) -> list[str]:
    """Template actions this renderer does not support (the lint reports them)."""
    return [a for a in actions(template) if not (_LABEL.match(a) or _PRINTF.match(a) or _PERCENT.match(a))]


def _go_g(value: float, precision: int) -> str:
    text = f"{value:.{precision}g}"
    if "e" in text:
        mantissa, exp = text.split("e")
        sign = exp[0]
        digits = exp[1:].lstrip("0").rjust(2, "0")
        text = f"{mantissa}e{sign}{digits}"
    return text


def render(template: str, labels: dict[str, str], value: float | None) -> str:
    def one(m: re.Match[str]) -> str:
        action = m.group(1).strip()
        if lm := _LABEL.match(action):
            return labels.get(lm.group(1), "")  # Prometheus' labels are a map[string]string: "" when absent
        if value is None:
            raise TemplateError(f"template uses $value but the test case gives no value: {template!r}")
        if pm := _PRINTF.match(action):
            return f"{value:.{int(pm.group(1))}f}"
        if _PERCENT.match(action):
            return _go_g(value * 100, 4) + "%"
        raise TemplateError(f"unsupported template action {{{{ {action} }}}}")

    return _ACTION.sub(one, template)
