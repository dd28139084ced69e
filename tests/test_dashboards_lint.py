"""Lint of the Control Room dashboards (the issue's "Done when"), and tests that the lint catches faults."""

from __future__ import annotations

import copy

import pytest

from smmc import dashboards
from smmc.dashboards import lint


@pytest.fixture(scope="module")
def built():
    return dashboards.build_all()


def test_structure(built):
    assert lint.check_structure(built) == []


def test_every_query_parses_and_reads_only_documented_metrics(built):
    assert lint.check_queries(built, lint.known_metrics()) == []


def test_links_between_dashboards_and_drill_downs(built):
    assert lint.check_links(built) == []
    drilldowns = [
        link["url"]
        for board in built.values()
        for panel in dashboards.iter_panels(board)
        for link in (panel.get("fieldConfig") or {}).get("defaults", {}).get("links", [])
    ]
    # aggregate panels drill down to the detail dashboards with the variable set
    assert any(u.startswith("/d/smmc-concentrators/") and "var-concentrator=" in u for u in drilldowns)
    assert any(u.startswith("/d/smmc-meters/") and "var-comuna=" in u for u in drilldowns)
    assert any(u.startswith("/d/smmc-communications/") and "var-modem=" in u for u in drilldowns)


def test_operator_filters_exist(built):
    variables = {board["uid"]: {v["name"] for v in board["templating"]["list"]} for board in built.values()}
    assert {"comuna", "concentrator", "flag", "flag_severity"} <= variables["smmc-meters"]
    assert {"comuna", "concentrator", "modem"} <= variables["smmc-communications"]
    assert {"comuna", "concentrator", "priority"} <= variables["smmc-concentrators"]
    assert {"maintenance", "team", "severity"} <= variables["smmc-alerts"]


def test_geomaps_join_the_inventory_for_coordinates(built):
    maps = [p for b in built.values() for p in dashboards.iter_panels(b) if p["type"] == "geomap"]
    assert len(maps) == 3
    for panel in maps:
        assert "smmc_concentrator_info" in panel["targets"][0]["expr"]
        location = panel["options"]["layers"][0]["location"]
        assert location == {"mode": "coords", "latitude": "latitude", "longitude": "longitude"}


def _first_panel(board):
    return next(p for p in dashboards.iter_panels(board) if p["type"] != "row")


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (lambda b: _first_panel(b)["fieldConfig"]["defaults"].pop("unit"), "no unit"),
        (lambda b: _first_panel(b)["datasource"].update(uid="other"), "datasource is not uid"),
        (lambda b: _first_panel(b)["targets"][0]["datasource"].update(uid="x"), "target A datasource"),
        (lambda b: _first_panel(b).update(title=""), "has no title"),
        (lambda b: b.update(tags=[]), "lack 'control-room'"),
        (lambda b: b.update(links=[]), "no link menu"),
    ],
)
def test_structure_lint_catches(built, fault, message):
    broken = copy.deepcopy(built)
    fault(broken["meters.json"])
    assert any(message in problem for problem in lint.check_structure(broken))


def test_structure_lint_catches_a_duplicate_uid(built):
    broken = copy.deepcopy(built)
    broken["health.json"]["uid"] = broken["meters.json"]["uid"]
    assert any("also used by" in problem for problem in lint.check_structure(broken))


def test_query_lint_catches_unknown_metrics_bad_syntax_and_undefined_variables(built):
    broken = copy.deepcopy(built)
    targets = [t for p in dashboards.iter_panels(broken["meters.json"]) for t in p.get("targets", [])]
    targets[0]["expr"] = "sum(nobody_exports_this)"
    targets[1]["expr"] = "sum(up"
    targets[2]["expr"] = 'up{job="$undefined"}'
    problems = lint.check_queries(broken, lint.known_metrics())
    assert any("'nobody_exports_this'" in p for p in problems)
    assert any(f"target {targets[1]['refId']}: unclosed left parenthesis" in p for p in problems)
    assert any("undefined" in p for p in problems)


def test_link_lint_catches_unknown_dashboard_and_variable(built):
    broken = copy.deepcopy(built)
    panel = next(
        p
        for p in dashboards.iter_panels(broken["meters.json"])
        if p.get("fieldConfig", {}).get("defaults", {}).get("links")
    )
    link = panel["fieldConfig"]["defaults"]["links"][0]
    link["url"] = "/d/smmc-concentrators/concentrators?var-nosuch=${__field.labels.x}&${__url_time_range}"
    panel["fieldConfig"]["defaults"]["links"].append({"title": "t", "url": "/d/nope/x?var-a=1"})
    problems = lint.check_links(broken)
    assert any("has no variable 'nosuch'" in p for p in problems)
    assert any("no dashboard with uid 'nope'" in p for p in problems)


def test_metric_names_and_histogram_suffixes():
    assert lint.metric_names('sum by (a) (rate(x_total{a="1"}[5m])) / on () group_left y') == {"x_total", "y"}
    assert lint.is_known("foo_seconds_bucket", {"foo_seconds"})
    assert not lint.is_known("foo_seconds_bucket", {"bar"})


def _panels(board, panel_type):
    return [p for p in dashboards.iter_panels(board) if p.get("type") == panel_type]


def test_the_new_lints_pass_on_the_generated_dashboards(built):
    assert lint.check_thresholds_drawn(built) == []
    assert lint.check_table_cells(built) == []
    assert lint.check_refresh(built) == []
    assert lint.check_topk_in_range_queries(built) == []
    assert lint.check_grid(built) == []
    assert lint.check_variable_meanings(built) == []


def test_thresholds_lint_catches_a_threshold_not_drawn(built):
    broken = copy.deepcopy(built)
    panel = next(
        p
        for p in _panels(broken["communications.json"], "timeseries")
        if len(p["fieldConfig"]["defaults"]["thresholds"]["steps"]) > 1
    )
    panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"] = {"mode": "off"}
    (problem,) = lint.check_thresholds_drawn(broken)
    assert panel["title"] in problem and "not drawn" in problem


def test_table_cell_lint_catches_a_mapped_column_in_plain_text(built):
    broken = copy.deepcopy(built)
    table = _panels(broken["concentrators.json"], "table")
    panel = next(p for p in table if p["title"] == "Status word of the selected concentrators")
    for override in panel["fieldConfig"]["overrides"]:
        override["properties"] = [p for p in override["properties"] if p["id"] != "custom.cellOptions"]
    problems = lint.check_table_cells(broken)
    assert any("'Reachable' is mapped" in p for p in problems)


def test_refresh_lint_catches_a_daily_dashboard_refreshing_every_minute(built):
    broken = copy.deepcopy(built)
    broken["meters.json"]["refresh"] = "1m"
    broken["alerts.json"]["refresh"] = "15m"  # alerts change every minute: 15m is too slow
    problems = lint.check_refresh(broken)
    assert any(p.startswith("meters.json: refresh '1m'") and "'15m'" in p for p in problems)
    assert any(p.startswith("alerts.json: refresh '15m'") and "'1m'" in p for p in problems)
    assert lint.metric_cadence("comuna_severity:smmc_meters_flagged:sum") == 86400
    assert lint.metric_cadence("rule_severity:opengate_alarm_open:count") == 60
    assert lint.metric_cadence("cloudera_job_status") == 86400  # the daily job report
    assert lint.metric_cadence("cloudera_host_cpu_usage_ratio") == 60  # the Cloudera Manager poll


def test_topk_lint_catches_topk_in_a_range_query(built):
    broken = copy.deepcopy(built)
    panel = next(
        p for p in _panels(broken["concentrators.json"], "timeseries") if "topk" in p["targets"][0]["expr"]
    )
    panel["targets"][0]["expr"] = panel["targets"][0]["expr"].replace(" @ end()", "")
    (problem,) = lint.check_topk_in_range_queries(broken)
    assert panel["title"] in problem and "@ end()" in problem


def test_grid_lint_catches_overflow_and_overlap(built):
    broken = copy.deepcopy(built)
    panels = [p for p in broken["health.json"]["panels"] if p["type"] != "row"]
    panels[0]["gridPos"].update(x=12, w=24)
    panels[2]["gridPos"] = dict(panels[1]["gridPos"])
    problems = lint.check_grid(broken)
    assert any("leaves the 24-column grid" in p for p in problems)
    assert any(f"{panels[2]['title']!r} overlaps" in p for p in problems)


def test_variable_lint_catches_one_name_with_two_meanings(built):
    broken = copy.deepcopy(built)
    variable = next(
        v for v in broken["communications.json"]["templating"]["list"] if v["name"] == "alarm_severity"
    )
    variable["name"] = "severity"  # the OpenGate alarm severity under the alert severity's name
    (problem,) = lint.check_variable_meanings(broken)
    assert "variable 'severity'" in problem and "one meaning per name" in problem


def test_link_lint_checks_table_cell_links(built):
    broken = copy.deepcopy(built)
    panel = next(
        p
        for p in _panels(broken["meters.json"], "table")
        if p["title"] == "Meters with an active per-meter flag"
    )
    links = [
        link
        for o in panel["fieldConfig"]["overrides"]
        for prop in o["properties"]
        if prop["id"] == "links"
        for link in prop["value"]
    ]
    assert links and all(link["url"].startswith("/d/") for link in links)
    links[0]["url"] = links[0]["url"].replace("var-concentrator=", "var-nosuch=")
    assert any("has no variable 'nosuch'" in p for p in lint.check_links(broken))
