"""Routing expectations: the receivers each alert of the rules reaches (`amtool config routes test`).

The policy, derived from each alert's own labels (so every maintenance path the rules use is tested):
the Watchdog reaches only `watchdog`; an info alert only `smmc-actions` (recorded, no notification);
a warning or critical alert `smmc-actions` then `noc-notify`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from smmc.rules import tools
from smmc.rules.model import Alert, RuleSet

CONFIG = Path("alertmanager/alertmanager.yml")


@dataclass(frozen=True)
class RouteCase:
    name: str
    labels: dict[str, str]
    receivers: tuple[str, ...]


def expected_receivers(labels: dict[str, str]) -> tuple[str, ...]:
    if labels.get("alertname") == "Watchdog":
        return ("watchdog",)
    if labels.get("severity") == "info":
        return ("smmc-actions",)
    return ("smmc-actions", "noc-notify")


def _labels(a: Alert) -> dict[str, str]:
    labels = {"alertname": a.name, **(a.fire.labels if a.fire else {}), **a.labels}
    return labels


def cases(rs: RuleSet) -> list[RouteCase]:
    out = [RouteCase(a.name, _labels(a), expected_receivers(_labels(a))) for a in rs.alerts]
    # An alert without the ladder's labels (a hand-written rule that skipped the policy) still reaches people.
    out.append(RouteCase("unlabelled alert", {"alertname": "Unlabelled"}, ("noc-notify",)))
    return out


def check(rs: RuleSet, root: Path) -> list[str]:
    amtool = tools.amtool()
    problems = []
    for case in cases(rs):
        args = [amtool, "config", "routes", "test", f"--config.file={root / CONFIG}"]
        args += [f'{k}="{v}"' for k, v in sorted(case.labels.items())]
        result = tools.run(args)
        got = tuple(r for r in result.stdout.strip().split(",") if r)
        if result.returncode != 0 and not got:
            problems.append(f"routes test {case.name}: amtool failed: {result.stderr.strip()}")
        elif got != case.receivers:
            problems.append(
                f"routes test {case.name}: expected {','.join(case.receivers)}, got {','.join(got)}"
            )
    return problems
