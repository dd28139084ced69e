"""The Grafana Control Room: dashboards as code, generated with grafana-foundation-sdk.

`build_all()` returns every dashboard as plain Grafana dashboard JSON (a dict); `render()` gives the exact
text committed under grafana/dashboards/; `panel_queries()` lists every panel's PromQL with the template
variables set to their match-all values, for tests that run the queries against a real Prometheus.
"""

from __future__ import annotations

import importlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from smmc.artifacts import Artifacts
from smmc.repo import REPO_ROOT

# One module per dashboard, in the order of the Control Room menu.
DASHBOARD_MODULES = (
    "overview",
    "meters",
    "concentrators",
    "communications",
    "workorders",
    "platform",
    "alerts",
    "health",
)

# Grafana's home page (docker-compose.yml GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH, `smmc stack up`)
HOME_DASHBOARD = "overview.json"
DASHBOARDS_DIR = REPO_ROOT / "grafana" / "dashboards"
GENERATE = "smmc dashboards generate"

# What Grafana puts in for its built-in variables when we run a query outside Grafana.
BUILTIN_VARIABLES = {
    "__range": "1d",
    "__rate_interval": "5m",
    "__interval": "1m",
}

# Panels whose only source is an optional external exporter that the stack does not run by default
# (azure-metrics-exporter needs Azure credentials): (dashboard uid, panel title). panel_queries() leaves
# them out unless asked.
OPTIONAL_SOURCE_PANELS = {("smmc-platform", "SMMePlus integration: Event Hub outgoing bytes")}


def _assign_ids(panels: list[dict[str, Any]], next_id: int = 1) -> int:
    for panel in panels:
        panel["id"] = next_id
        next_id += 1
        next_id = _assign_ids(panel.get("panels", []), next_id)
    return next_id


GRID_WIDTH = 24


class _Grid:
    """Places panels on Grafana's 24-column grid in reading order: each panel goes right of the previous
    one when it fits, else into the highest free spot of the width it needs (filling the hole next to a
    tall panel), rows across the whole width below everything above them."""

    def __init__(self, top: int = 0) -> None:
        self.top = [top] * GRID_WIDTH
        self.x = 0

    def row(self) -> int:
        y = max(self.top)
        self.top = [y + 1] * GRID_WIDTH
        self.x = 0
        return y

    def place(self, width: int, height: int) -> tuple[int, int]:
        width = min(width, GRID_WIDTH)
        if self.x + width > GRID_WIDTH:
            self.x = min(range(GRID_WIDTH - width + 1), key=lambda x: (max(self.top[x : x + width]), x))
        y = max(self.top[self.x : self.x + width])
        x = self.x
        self.top[x : x + width] = [y + height] * width
        self.x = x + width
        return x, y


def _layout(panels: list[dict[str, Any]]) -> None:
    grid = _Grid()
    for panel in panels:
        if panel.get("type") == "row":
            y = grid.row()
            panel["gridPos"] = {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y}
            inner = _Grid(y + 1)  # a collapsed row's panels, laid out as they open
            for child in panel.get("panels", []):
                pos = child["gridPos"]
                x, child_y = inner.place(pos["w"], pos["h"])
                child["gridPos"] = {"h": pos["h"], "w": min(pos["w"], GRID_WIDTH), "x": x, "y": child_y}
            continue
        pos = panel["gridPos"]
        x, y = grid.place(pos["w"], pos["h"])
        panel["gridPos"] = {"h": pos["h"], "w": min(pos["w"], GRID_WIDTH), "x": x, "y": y}


def _to_dict(builder) -> dict[str, Any]:
    data = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    _assign_ids(data["panels"])
    _layout(data["panels"])
    return data


@cache
def _built() -> tuple[tuple[str, str], ...]:
    out = []
    for name in DASHBOARD_MODULES:
        module = importlib.import_module(f"smmc.dashboards.{name}")
        out.append((f"{name}.json", json.dumps(_to_dict(module.build()), indent=2, sort_keys=True) + "\n"))
    return tuple(out)


def render() -> dict[str, str]:
    """File name -> the exact JSON text the generator writes for it."""
    return dict(_built())


def build_all() -> dict[str, dict[str, Any]]:
    """File name -> dashboard JSON as a dict (a fresh copy each call)."""
    return {name: json.loads(text) for name, text in _built()}


def artifacts(out_dir: Path = DASHBOARDS_DIR) -> Artifacts:
    """The dashboards as generated files: every *.json in `out_dir` is the generator's."""
    return Artifacts(out_dir, render(), GENERATE, owns=("*.json",))


def generate(out_dir: Path = DASHBOARDS_DIR) -> list[str]:
    """Write the dashboards that changed and remove left-over JSON; one line per file touched."""
    return artifacts(out_dir).write()


def stale(out_dir: Path = DASHBOARDS_DIR) -> list[str]:
    """Problems that make the committed JSON differ from what the generator writes (empty = fresh)."""
    return artifacts(out_dir).stale()


def iter_panels(dashboard: dict[str, Any]):
    """Every panel of a dashboard, rows and the panels inside collapsed rows included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")


def match_all_values(dashboard: dict[str, Any]) -> dict[str, str]:
    """Each template variable's match-all value (its allValue, else its first option)."""
    values = dict(BUILTIN_VARIABLES)
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("includeAll") and variable.get("allValue") is not None:
            values[variable["name"]] = variable["allValue"]
        elif variable.get("options"):
            values[variable["name"]] = variable["options"][0]["value"]
        else:
            values[variable["name"]] = ".*"
    return values


def substitute(expr: str, values: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name.isdigit():  # a regex back-reference, e.g. in label_replace
            return match.group(0)
        if name not in values:
            raise KeyError(f"unknown template variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(replace, expr)


def panel_queries(include_optional: bool = False) -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, PromQL) for every target of every panel, with template variables set
    to their match-all values and Grafana's built-ins ($__range...) to fixed durations. Panels that read
    only an optional external exporter (OPTIONAL_SOURCE_PANELS) are left out unless include_optional."""
    out = []
    for dashboard in build_all().values():
        values = match_all_values(dashboard)
        for panel in iter_panels(dashboard):
            for target in panel.get("targets", []):
                if not include_optional and (dashboard["uid"], panel["title"]) in OPTIONAL_SOURCE_PANELS:
                    continue
                out.append((dashboard["uid"], panel["title"], substitute(target["expr"], values)))
    return out
