"""Checks every Control Room dashboard against the project's conventions.

Used by `smmc dashboards check` and tests/test_dashboards_lint.py. Each check returns readable problems
("meters.json: panel 'X': ..."); an empty list means the dashboards pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from smmc.dashboards import iter_panels, match_all_values, substitute
from smmc.dashboards.panels import DATASOURCE_UID, FOLDER_TAG, UIDS
from smmc.repo import REPO_ROOT

METRICS_DOC = REPO_ROOT / "docs" / "metrics.md"
RULES_DIR = REPO_ROOT / "rules"

# Series Prometheus itself produces for every target and for alerting rules.
PROMETHEUS_BUILTINS = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
        "ALERTS",
        "ALERTS_FOR_STATE",
    }
)
# Series names a documented histogram or summary `x` also exposes.
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count", "_created")
# Panels that show no quantity and so need no unit.
UNITLESS_PANEL_TYPES = frozenset({"row", "text", "dashlist"})
# Panels that show several series, each of which the legend must name.
LEGEND_PANEL_TYPES = frozenset({"timeseries", "bargauge", "piechart"})

_DOC_NAME = re.compile(r"^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`")


def documented_metrics(doc: Path = METRICS_DOC) -> set[str]:
    """Metric names in backticks in the first column of a table in docs/metrics.md."""
    names = set()
    for line in doc.read_text(encoding="utf-8").splitlines():
        match = _DOC_NAME.match(line.strip())
        if match:
            names.add(match.group(1))
    return names


def recording_rules(rules_dir: Path = RULES_DIR) -> set[str]:
    names = set()
    for path in sorted(rules_dir.glob("*.rules.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in data.get("groups", []) or []:
            for rule in group.get("rules", []) or []:
                if "record" in rule:
                    names.add(rule["record"])
    return names


def known_metrics() -> set[str]:
    return documented_metrics() | recording_rules() | set(PROMETHEUS_BUILTINS)


def is_known(name: str, known: set[str]) -> bool:
    if name in known:
        return True
    return any(name.endswith(suffix) and name[: -len(suffix)] in known for suffix in HISTOGRAM_SUFFIXES)


def metric_names(expr: str) -> set[str]:
    """Every metric name a PromQL expression reads (raises ValueError when it does not parse)."""
    import promql_parser

    names: set[str] = set()

    def visit(node) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            else:
                names.update(m.value for m in node.matchers.matchers if m.name == "__name__")
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def _where(name: str, panel: dict[str, Any] | None = None) -> str:
    return f"{name}: panel {panel.get('title')!r}" if panel else name


def check_structure(dashboards: dict[str, dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    seen_uids: dict[str, str] = {}
    for name, board in dashboards.items():
        if not board.get("title"):
            problems.append(f"{name}: no title")
        uid = board.get("uid") or ""
        if not uid or len(uid) > 40:
            problems.append(f"{name}: uid {uid!r} missing or longer than 40 characters")
        if uid in seen_uids:
            problems.append(f"{name}: uid {uid!r} also used by {seen_uids[uid]}")
        seen_uids[uid] = name
        if FOLDER_TAG not in (board.get("tags") or []):
            problems.append(f"{name}: tags {board.get('tags')!r} lack {FOLDER_TAG!r}")
        if board.get("editable"):
            problems.append(f"{name}: editable; dashboards are code")
        if not any(
            link.get("type") == "dashboards" and FOLDER_TAG in link.get("tags", [])
            for link in board.get("links", [])
        ):
            problems.append(f"{name}: no link menu to the other Control Room dashboards")
        panel_ids = [panel.get("id") for panel in iter_panels(board)]
        if len(panel_ids) != len(set(panel_ids)):
            problems.append(f"{name}: duplicate panel ids")
        titles = [panel.get("title") for panel in iter_panels(board) if panel.get("type") != "row"]
        problems.extend(
            f"{name}: two panels titled {title!r}"
            for title in sorted({t for t in titles if titles.count(t) > 1})
        )
        for panel in iter_panels(board):
            problems.extend(_check_panel(name, panel))
    return problems


def _check_panel(name: str, panel: dict[str, Any]) -> Iterable[str]:
    where = _where(name, panel)
    if not panel.get("title"):
        yield f"{name}: a panel of type {panel.get('type')!r} has no title"
    if panel.get("type") in UNITLESS_PANEL_TYPES:
        return
    if not panel.get("description"):
        yield f"{where}: no description"
    if (panel.get("datasource") or {}).get("uid") != DATASOURCE_UID:
        yield f"{where}: datasource is not uid {DATASOURCE_UID!r}"
    defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
    if not defaults.get("unit"):
        yield f"{where}: no unit"
    if not (defaults.get("thresholds") or {}).get("steps"):
        yield f"{where}: no thresholds"
    targets = panel.get("targets") or []
    if not targets:
        yield f"{where}: no query"
    for target in targets:
        if (target.get("datasource") or {}).get("uid") != DATASOURCE_UID:
            yield f"{where}: target {target.get('refId')} datasource is not uid {DATASOURCE_UID!r}"
        if not target.get("expr"):
            yield f"{where}: target {target.get('refId')} has no expression"
        if panel.get("type") in LEGEND_PANEL_TYPES and not target.get("legendFormat"):
            yield f"{where}: target {target.get('refId')} has no legend naming its series"


def check_queries(dashboards: dict[str, dict[str, Any]], known: set[str]) -> list[str]:
    """Every expression parses once its variables are substituted and reads only known metrics."""
    problems = []
    for name, board in dashboards.items():
        values = match_all_values(board)
        for panel in iter_panels(board):
            for target in panel.get("targets") or []:
                where = f"{_where(name, panel)} target {target.get('refId')}"
                try:
                    expr = substitute(target.get("expr", ""), values)
                    names = metric_names(expr)
                except (KeyError, ValueError) as exc:
                    problems.append(f"{where}: {exc}")
                    continue
                problems.extend(
                    f"{where}: reads {metric!r}, which no exporter, recording rule or Prometheus documents"
                    for metric in sorted(names)
                    if not is_known(metric, known)
                )
        for variable in board.get("templating", {}).get("list", []):
            query = variable.get("query")
            if variable.get("type") != "query" or not isinstance(query, str):
                continue
            match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query)
            if not match:
                problems.append(f"{name}: variable {variable['name']}: query {query!r} is not label_values")
                continue
            try:
                names = metric_names(substitute(match.group(1), match_all_values(board)))
            except (KeyError, ValueError) as exc:
                problems.append(f"{name}: variable {variable['name']}: {exc}")
                continue
            problems.extend(
                f"{name}: variable {variable['name']} reads undocumented {metric!r}"
                for metric in sorted(names)
                if not is_known(metric, known)
            )
    return problems


def _links(panel: dict[str, Any]) -> list[dict[str, Any]]:
    defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
    return list(defaults.get("links") or []) + list(panel.get("links") or [])


def check_links(dashboards: dict[str, dict[str, Any]]) -> list[str]:
    """Drill-down links point at a Control Room dashboard and set only variables it has."""
    by_uid = {board["uid"]: board for board in dashboards.values()}
    slugs = dict(UIDS.values())
    problems = []
    for name, board in dashboards.items():
        for panel in iter_panels(board):
            for link in _links(panel):
                where = f"{_where(name, panel)} link {link.get('title')!r}"
                url = urlsplit(link.get("url", ""))
                match = re.fullmatch(r"/d/([^/]+)/([^/]+)", url.path)
                if not match:
                    problems.append(f"{where}: {url.path!r} is not a /d/<uid>/<slug> dashboard URL")
                    continue
                uid, slug = match.groups()
                target = by_uid.get(uid)
                if target is None:
                    problems.append(f"{where}: no dashboard with uid {uid!r}")
                    continue
                if slugs.get(uid) != slug:
                    problems.append(f"{where}: slug {slug!r} is not {slugs.get(uid)!r}")
                variables = {v["name"] for v in target.get("templating", {}).get("list", [])}
                params = [key for key, _ in parse_qsl(url.query, keep_blank_values=True)]
                set_vars = [key[4:] for key in params if key.startswith("var-")]
                drilldown = "${__field" in url.query or "${__data" in url.query
                if drilldown and not set_vars:
                    problems.append(f"{where}: drills down but sets no variable of the target dashboard")
                problems.extend(
                    f"{where}: {uid} has no variable {var!r}" for var in set_vars if var not in variables
                )
                if "${__url_time_range}" not in url.query:
                    problems.append(f"{where}: does not keep the time range")
    return problems


def lint(dashboards: dict[str, dict[str, Any]]) -> list[str]:
    return check_structure(dashboards) + check_queries(dashboards, known_metrics()) + check_links(dashboards)
