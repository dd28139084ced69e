"""Panel colours from the alert thresholds in rules/thresholds.yml, the one place they live: a panel turns
red where its alert fires, and an SRE who moves a threshold moves the colour with it (regenerate both)."""

from __future__ import annotations

from functools import cache

from smmc.dashboards import panels as p
from smmc.rules import model

Steps = tuple[tuple[float | None, str], ...]


@cache
def _rules() -> model.RuleSet:
    return model.load()


def rules() -> model.RuleSet:
    """The rules model of rules/thresholds.yml (alerts with their groups and labels, parameters, runbook
    base URL): the one door from the dashboards to the rules (the import-linter contract)."""
    return _rules()


def alert_param(alert: str, param: str) -> float:
    """The numeric value (durations in seconds) of one parameter of one alert."""
    return model.duration_seconds(_rules().alert(alert).params[param])


def alert_steps(alert: str, param: str, warn_from: float) -> Steps:
    """Green, orange from `warn_from`, red from the alert's threshold (orange is dropped when the
    threshold moves below `warn_from`)."""
    threshold = alert_param(alert, param)
    if warn_from >= threshold:
        return ((None, "green"), (threshold, "red"))
    return p.levels(warn_from, threshold)


# the escalation ladder's order; a rung the rules add later comes after these
LADDER = ("remote", "specialist", "support", "field", "scheduled", "outage", "platform", "none")


def rungs() -> list[str]:
    """The maintenance rungs the alerts of rules/thresholds.yml are on, in the ladder's order."""
    found = {a.labels["maintenance"] for a in _rules().alerts}
    return [r for r in LADDER if r in found] + sorted(found - set(LADDER))
