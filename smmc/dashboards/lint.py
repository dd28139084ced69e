"""Checks every Control Room dashboard against the project's conventions.

Used by `smmc dashboards check` and tests/test_dashboards_lint.py. Each check returns readable problems
("meters.json: panel 'X': ..."); an empty list means the dashboards pass.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
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
                problems.extend(
                    _expression_problems(
                        target.get("expr", ""),
                        values,
                        known,
                        where,
                        lambda metric, where=where: (
                            f"{where}: reads {metric!r}, which no exporter, "
                            "recording rule or Prometheus documents"
                        ),
                    )
                )
        for variable in board.get("templating", {}).get("list", []):
            query = variable.get("query")
            if variable.get("type") != "query" or not isinstance(query, str):
                continue
            match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query)
            if not match:
                problems.append(f"{name}: variable {variable['name']}: query {query!r} is not label_values")
                continue
            where = f"{name}: variable {variable['name']}"
            problems.extend(
                _expression_problems(
                    match.group(1),
                    values,
                    known,
                    where,
                    lambda metric, where=where: f"{where} reads undocumented {metric!r}",
                )
            )
    return problems


def _expression_problems(
    expr: str, values: dict[str, str], known: set[str], where: str, unknown: Callable[[str], str]
) -> list[str]:
    """A panel's or a variable's expression: it must parse once its variables are substituted, and
    each metric it reads that nobody documents is a problem worded by `unknown`."""
    try:
        names = metric_names(substitute(expr, values))
    except (KeyError, ValueError) as exc:
        return [f"{where}: {exc}"]
    return [unknown(metric) for metric in sorted(names) if not is_known(metric, known)]


def _links(panel: dict[str, Any]) -> list[dict[str, Any]]:
    """The panel's data links, its panel links, and the table cell links to Control Room dashboards
    (a cell link elsewhere, a runbook or Alertmanager, is not a dashboard link)."""
    field_config = panel.get("fieldConfig") or {}
    defaults = field_config.get("defaults") or {}
    cell_links = [
        link
        for override in field_config.get("overrides") or []
        for prop in override.get("properties") or []
        if prop.get("id") == "links"
        for link in prop.get("value") or []
        if str(link.get("url", "")).startswith("/d/")
    ]
    return list(defaults.get("links") or []) + list(panel.get("links") or []) + cell_links


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


# -- red means act, drawn where it is set -------------------------------------------------------------


def check_thresholds_drawn(dashboards: dict[str, dict[str, Any]]) -> list[str]:
    """A time series with thresholds (more than the base colour) draws them (custom.thresholdsStyle)."""
    problems = []
    for name, board in dashboards.items():
        for panel in iter_panels(board):
            if panel.get("type") != "timeseries":
                continue
            defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
            steps = (defaults.get("thresholds") or {}).get("steps") or []
            mode = ((defaults.get("custom") or {}).get("thresholdsStyle") or {}).get("mode", "off")
            if len(steps) > 1 and mode == "off":
                problems.append(
                    f"{_where(name, panel)}: thresholds set but not drawn (custom.thresholdsStyle)"
                )
    return problems


COLOURED_CELL_TYPES = frozenset({"color-text", "color-background", "color-background-solid"})


def _cell_type(properties: Iterable[dict[str, Any]]) -> str | None:
    for prop in properties:
        if prop.get("id") == "custom.cellOptions":
            return (prop.get("value") or {}).get("type")
    return None


def check_table_cells(dashboards: dict[str, dict[str, Any]]) -> list[str]:
    """A table column with value mappings or thresholds of its own shows their colour (a coloured cell
    type), else the red/green mapping stays plain text."""
    problems = []
    for name, board in dashboards.items():
        for panel in iter_panels(board):
            if panel.get("type") != "table":
                continue
            field_config = panel.get("fieldConfig") or {}
            defaults = field_config.get("defaults") or {}
            if (
                defaults.get("mappings")
                and (defaults.get("custom") or {}).get("cellOptions", {}).get("type")
                not in COLOURED_CELL_TYPES
            ):
                problems.append(
                    f"{_where(name, panel)}: value mappings on every cell, but no coloured cell type"
                )
            by_column: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for override in field_config.get("overrides") or []:
                column = str((override.get("matcher") or {}).get("options"))
                by_column[column].extend(override.get("properties") or [])
            for column, properties in by_column.items():
                if not any(prop.get("id") in ("mappings", "thresholds") for prop in properties):
                    continue
                if _cell_type(properties) not in COLOURED_CELL_TYPES:
                    problems.append(
                        f"{_where(name, panel)}: column {column!r} is mapped or has thresholds but its cells "
                        "are not coloured (custom.cellOptions type)"
                    )
    return problems


# -- cost ---------------------------------------------------------------------------------------------

# Seconds between new data of a source, by metric name prefix, the first that matches (recording rules
# by the metric they aggregate): alerts, scrapes, the receiver, the OpenGate and Cloudera Manager polls
# change every minute, Azure Monitor's timegrain is 5 minutes, the SMMePlus files and the Cloudera job
# report arrive daily.
CADENCE_SECONDS = (
    ("ALERTS", 60),
    ("opengate_", 60),
    ("smmc_receiver_", 60),
    ("cloudera_host_", 60),
    ("cloudera_service_", 60),
    ("cloudera_hdfs_", 60),
    ("cloudera_manager_", 60),
    ("azurerm_", 300),
    ("cloudera_", 86400),
    ("smmc_", 86400),
)


def metric_cadence(name: str) -> int:
    base = name.split(":")[1] if name.count(":") == 2 else name
    if base in PROMETHEUS_BUILTINS:
        return 60
    return next((seconds for prefix, seconds in CADENCE_SECONDS if base.startswith(prefix)), 60)


def refresh_for(cadence_seconds: int) -> str:
    """The dashboard refresh for its fastest source: every minute for minute data, 5 minutes for 5-minute
    data, 15 minutes where everything arrives daily."""
    if cadence_seconds <= 60:
        return "1m"
    if cadence_seconds <= 300:
        return "5m"
    return "15m"


def check_refresh(dashboards: dict[str, dict[str, Any]]) -> list[str]:
    """Each dashboard refreshes at the cadence of the fastest data it reads, never faster."""
    problems = []
    for name, board in dashboards.items():
        values = match_all_values(board)
        cadences = []
        for panel in iter_panels(board):
            for target in panel.get("targets") or []:
                try:
                    names = metric_names(substitute(target.get("expr", ""), values))
                except (KeyError, ValueError):
                    continue  # check_queries reports it
                cadences.extend(metric_cadence(metric) for metric in names)
        if not cadences:
            continue
        expected = refresh_for(min(cadences))
        if board.get("refresh") != expected:
            problems.append(
                f"{name}: refresh {board.get('refresh')!r}, but its fastest data changes every "
                f"{min(cadences)} s: refresh {expected!r}"
            )
    return problems


_TOPK = re.compile(r"\b(?:topk|bottomk)\s*\(")


def check_topk_in_range_queries(dashboards: dict[str, dict[str, Any]]) -> list[str]:
    """`topk` in a range query ranks at every step, so a graph shows more than k series: rank once, at
    the end of the range (`X and on (l) topk(k, X @ end())`)."""
    problems = []
    for name, board in dashboards.items():
        for panel in iter_panels(board):
            for target in panel.get("targets") or []:
                expr = target.get("expr", "")
                is_range = target.get("range", False) and not target.get("instant", False)
                if is_range and _TOPK.search(expr) and "@ end()" not in expr:
                    problems.append(
                        f"{_where(name, panel)} target {target.get('refId')}: topk in a range query "
                        "without `@ end()` shows more than k series"
                    )
    return problems


# -- layout and variables -------------------------------------------------------------------------------

GRID_WIDTH = 24


def _grid_problems(where: str, panels: list[dict[str, Any]]) -> Iterable[str]:
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        pos = panel.get("gridPos") or {}
        x, y, w, h = (pos.get(k, 0) for k in ("x", "y", "w", "h"))
        title = panel.get("title")
        if w < 1 or h < 1 or x < 0 or x + w > GRID_WIDTH:
            yield f"{where}: panel {title!r} at x={x} w={w} leaves the {GRID_WIDTH}-column grid"
            continue
        for cx in range(x, x + w):
            for cy in range(y, y + h):
                other = cells.setdefault((cx, cy), title)
                if other != title:
                    yield f"{where}: panel {title!r} overlaps panel {other!r}"
                    break
            else:
                continue
            break


def check_grid(dashboards: dict[str, dict[str, Any]]) -> list[str]:
    """Every panel within the 24 columns, none overlapping another (rows' hidden panels among themselves)."""
    problems = []
    for name, board in dashboards.items():
        top = board.get("panels", [])
        problems.extend(_grid_problems(name, top))
        for row in top:
            if row.get("panels"):
                problems.extend(_grid_problems(f"{name}: row {row.get('title')!r}", row["panels"]))
    return problems


def _meaning(variable: dict[str, Any]) -> tuple:
    query = variable.get("query")
    listed = None
    if isinstance(query, str):
        match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query)
        listed = match.group(2) if match else query
        if variable.get("type") == "custom":
            listed = query
    return (variable.get("type"), variable.get("label"), variable.get("description"), listed)


def check_variable_meanings(dashboards: dict[str, dict[str, Any]]) -> list[str]:
    """One meaning per variable name: the Control Room menu carries variables between dashboards, so a
    name means the same thing (type, label, description, the label it lists) on every dashboard."""
    seen: dict[str, tuple[str, tuple]] = {}
    problems = []
    for name, board in dashboards.items():
        for variable in board.get("templating", {}).get("list", []):
            meaning = _meaning(variable)
            first = seen.setdefault(variable["name"], (name, meaning))
            if first[1] != meaning:
                problems.append(
                    f"{name}: variable {variable['name']!r} means {meaning[1:]!r}, on {first[0]} "
                    f"{first[1][1:]!r}: one meaning per name (rename one)"
                )
    return problems


def lint(dashboards: dict[str, dict[str, Any]]) -> list[str]:
    return (
        check_structure(dashboards)
        + check_queries(dashboards, known_metrics())
        + check_links(dashboards)
        + check_thresholds_drawn(dashboards)
        + check_table_cells(dashboards)
        + check_refresh(dashboards)
        + check_topk_in_range_queries(dashboards)
        + check_grid(dashboards)
        + check_variable_meanings(dashboards)
    )
