"""Building blocks shared by every Control Room dashboard.

Each dashboard module describes its panels with these helpers so that the conventions the lint tests
check (the fixed datasource uid on every panel and target, a unit and thresholds on every panel, legends
that name the object, drill-down links that carry the variable) hold by construction.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from grafana_foundation_sdk.builders import bargauge as bargauge_builder
from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.builders import geomap as geomap_builder
from grafana_foundation_sdk.builders import piechart as piechart_builder
from grafana_foundation_sdk.builders import prometheus as prometheus_builder
from grafana_foundation_sdk.builders import stat as stat_builder
from grafana_foundation_sdk.builders import table as table_builder
from grafana_foundation_sdk.builders import timeseries as timeseries_builder
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as dashboard_model
from grafana_foundation_sdk.models import piechart as piechart_model
from grafana_foundation_sdk.models import prometheus as prometheus_model

DATASOURCE_UID = "prometheus"
DATASOURCE = dashboard_model.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
FOLDER_TAG = "control-room"
BASE_TAGS = ["smmc", FOLDER_TAG]

# Santiago de Chile, where the seed's comunas are.
MAP_CENTER = (-33.45, -70.65)
MAP_ZOOM = 10

# Every dashboard's uid and URL slug, so that links between dashboards are checked in one place.
UIDS = {
    "overview": ("smmc-overview", "overview"),
    "meters": ("smmc-meters", "meters"),
    "concentrators": ("smmc-concentrators", "concentrators"),
    "communications": ("smmc-communications", "communications-opengate"),
    "workorders": ("smmc-workorders", "work-orders"),
    "platform": ("smmc-platform", "data-platform"),
    "alerts": ("smmc-alerts", "alerts-and-actions"),
    "health": ("smmc-health", "monitoring-health"),
}


@dataclass(frozen=True)
class Query:
    """One PromQL target of a panel: the expression and the legend that names the object."""

    expr: str
    legend: str = ""


Thresholds = Sequence[tuple[float | None, str]]

# Threshold presets. The first step's value is None: the base colour.
OK_ONLY: Thresholds = ((None, "green"),)


def any_is(colour: str) -> Thresholds:
    """A count of things to act on: green at 0, `colour` from one."""
    return ((None, "green"), (1, colour))


ANY_IS_BAD: Thresholds = any_is("red")


def levels(warn_from: float, bad_from: float) -> Thresholds:
    """Green, orange from `warn_from`, red from `bad_from`."""
    return ((None, "green"), (warn_from, "orange"), (bad_from, "red"))


ANY_IS_WARNING: Thresholds = levels(1, 10)
UP_DOWN: Thresholds = ((None, "red"), (1, "green"))
# a count that is context, not a call to act: no colour
NEUTRAL: Thresholds = ((None, "text"),)


def thresholds(steps: Thresholds) -> dashboard_builder.ThresholdsConfig:
    return (
        dashboard_builder.ThresholdsConfig()
        .mode(dashboard_model.ThresholdsMode.ABSOLUTE)
        .steps([dashboard_model.Threshold(value=value, color=color) for value, color in steps])
    )


def _target(query: Query, ref_id: str, *, instant: bool, table: bool) -> prometheus_builder.Dataquery:
    target = (
        prometheus_builder.Dataquery()
        .expr(query.expr)
        .ref_id(ref_id)
        .datasource(DATASOURCE)
        .editor_mode(prometheus_model.QueryEditorMode.CODE)
    )
    if query.legend:
        target = target.legend_format(query.legend)
    target = target.instant() if instant else target.range()
    if table:
        target = target.format(prometheus_model.PromQueryFormat.TABLE)
    return target


def _ref_ids(count: int) -> list[str]:
    return [chr(ord("A") + index) for index in range(count)]


def value_field(index: int, count: int) -> str:
    """The table field that holds the value of query `index` (from 0) of `count`: "Value" when it is the
    only one, else "Value #" and its ref id."""
    return "Value" if count == 1 else f"Value #{_ref_ids(index + 1)[index]}"


def _with_common(
    panel,
    title: str,
    description: str,
    queries: Sequence[Query],
    unit: str,
    steps: Thresholds,
    links: Iterable[dashboard_builder.DashboardLink],
    width: int,
    height: int,
    instant: bool = False,
    table: bool = False,
):
    """What every panel has: title, description, unit, thresholds, size, targets and data links."""
    panel = (
        panel.title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .thresholds(thresholds(steps))
        .span(width)
        .height(height)
    )
    for query, ref_id in zip(queries, _ref_ids(len(queries)), strict=True):
        panel = panel.with_target(_target(query, ref_id, instant=instant, table=table))
    links = list(links)
    if links:
        panel = panel.data_links(links)
    return panel


def _panel_type(
    new_panel: Callable[[], Any],
    *,
    width: int,
    height: int,
    steps: Thresholds | None = None,
    unit: str | None = None,
    instant: bool = False,
    table: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A panel function made from what one panel type adds (`style(panel, queries, steps, **options)`):
    every type takes title, description, queries, unit, steps, links, width and height the same way and
    sets them once, through `_with_common`; `width`, `height`, `steps` and `unit` are the type's defaults
    (no `steps` or no `unit`: the caller must give them)."""
    default_width, default_height, default_steps, default_unit = width, height, steps, unit

    def decorate(style: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(style)
        def make(
            title: str,
            description: str,
            queries: Sequence[Query],
            *,
            unit: str | None = default_unit,
            steps: Thresholds | None = default_steps,
            links: Iterable[dashboard_builder.DashboardLink] = (),
            width: int = default_width,
            height: int = default_height,
            **options: Any,
        ) -> Any:
            if steps is None:
                raise TypeError(f"{style.__name__}() needs steps (its thresholds)")
            if unit is None:
                raise TypeError(f"{style.__name__}() needs a unit")
            panel = _with_common(
                new_panel(),
                title,
                description,
                queries,
                unit,
                steps,
                links,
                width,
                height,
                instant=instant,
                table=table,
            )
            return style(panel, queries, steps, **options)

        return make

    return decorate


@_panel_type(timeseries_builder.Panel, width=12, height=8, steps=OK_ONLY)
def timeseries(
    panel: Any,
    queries: Sequence[Query],
    steps: Thresholds,
    *,
    stacked: bool = False,
    bars: bool = False,
    interval: str | None = None,
    time_from: str | None = None,
) -> Any:
    panel = (
        panel.min(0)
        .fill_opacity(20 if stacked else 10)
        .line_width(1)
        .legend(
            common_builder.VizLegendOptions()
            .show_legend(True)
            .display_mode(common_model.LegendDisplayMode.TABLE)
            .placement(common_model.LegendPlacement.RIGHT)
            .calcs(["lastNotNull", "max"])
        )
        .tooltip(
            common_builder.VizTooltipOptions()
            .mode(common_model.TooltipDisplayMode.MULTI)
            .sort(common_model.SortOrder.DESCENDING)
        )
    )
    if len(steps) > 1:  # a threshold that colours nothing is not one: draw it on the graph
        panel = panel.thresholds_style(
            common_builder.GraphThresholdsStyleConfig().mode(
                common_model.GraphTresholdsStyleMode.DASHED_AND_AREA
            )
        )
    if stacked:
        panel = panel.stacking(common_builder.StackingConfig().mode(common_model.StackingMode.NORMAL))
    if bars:
        panel = panel.draw_style(common_model.GraphDrawStyle.BARS).fill_opacity(80)
    if interval:
        panel = panel.interval(interval)
    if time_from:
        panel = panel.time_from(time_from)
    return panel


def _reduce_last() -> common_builder.ReduceDataOptions:
    return common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


@_panel_type(stat_builder.Panel, width=6, height=4)
def stat(
    panel: Any,
    queries: Sequence[Query],
    steps: Thresholds,
    *,
    mappings: Sequence[dashboard_model.ValueMapping] = (),
    series_steps: dict[str, Thresholds] | None = None,
    graph: bool = True,
) -> Any:
    """A big number. `series_steps` colours each series (by its display name, the legend) with its own
    thresholds: e.g. a critical count red from 1 next to a warning count orange from 1."""
    panel = (
        panel.reduce_options(_reduce_last())
        .color_mode(common_model.BigValueColorMode.VALUE)
        .graph_mode(common_model.BigValueGraphMode.AREA if graph else common_model.BigValueGraphMode.NONE)
        .text_mode(
            common_model.BigValueTextMode.VALUE_AND_NAME
            if len(queries) > 1 or any("{{" in q.legend for q in queries)
            else common_model.BigValueTextMode.VALUE
        )
    )
    if mappings:
        panel = panel.mappings(list(mappings))
    if series_steps:
        panel = panel.overrides(
            [
                _column_override(name, "thresholds", _thresholds_json(steps))
                for name, steps in series_steps.items()
            ]
        )
    return panel


def _thresholds_json(steps: Thresholds) -> dict:
    return {"mode": "absolute", "steps": [{"value": value, "color": color} for value, color in steps]}


@_panel_type(bargauge_builder.Panel, width=12, height=8, instant=True)
def bargauge(panel: Any, queries: Sequence[Query], steps: Thresholds, *, maximum: float | None = None) -> Any:
    """A horizontal bar per series: for top-N and distributions (instant queries)."""
    panel = (
        panel.reduce_options(_reduce_last())
        .orientation(common_model.VizOrientation.HORIZONTAL)
        .display_mode(common_model.BarGaugeDisplayMode.GRADIENT)
        .show_unfilled(True)
        .min(0)
    )
    if maximum is not None:
        panel = panel.max(maximum)
    return panel


@_panel_type(piechart_builder.Panel, width=12, height=8, steps=OK_ONLY, instant=True)
def piechart(panel: Any, queries: Sequence[Query], steps: Thresholds) -> Any:
    return (
        panel.reduce_options(_reduce_last())
        .pie_type(piechart_model.PieChartType.DONUT)
        .display_labels([piechart_model.PieChartLabels.PERCENT])
        .legend(
            piechart_builder.PieChartLegendOptions()
            .show_legend(True)
            .display_mode(common_model.LegendDisplayMode.TABLE)
            .placement(common_model.LegendPlacement.RIGHT)
            .values([piechart_model.PieChartLegendValues.VALUE, piechart_model.PieChartLegendValues.PERCENT])
        )
        .color_scheme(dashboard_builder.FieldColor().mode(dashboard_model.FieldColorModeId.PALETTE_CLASSIC))
    )


def _column_override(
    column: str, prop: str, value: object
) -> dashboard_builder.DashboardFieldConfigSourceOverrides:
    return (
        dashboard_builder.DashboardFieldConfigSourceOverrides()
        .matcher(dashboard_model.MatcherConfig(id_val="byName", options=column))
        .properties([dashboard_model.DynamicConfigValue(id_val=prop, value=value)])
    )


COLOURED_CELL = {"type": "color-background", "mode": "basic"}


# a table's cells are coloured and given units per column (column_steps, column_units); the panel's own
# are the fallback: no unit and no colour
@_panel_type(table_builder.Panel, width=24, height=9, steps=OK_ONLY, unit="none", instant=True, table=True)
def _table(
    panel: Any,
    queries: Sequence[Query],
    steps: Thresholds,
    *,
    columns: dict[str, str],
    column_units: dict[str, str] | None = None,
    join_by: str | None = None,
    sort_by: str | None = None,
    extra: Sequence[dict] = (),
    column_mappings: dict[str, dashboard_model.ValueMap] | None = None,
    column_steps: dict[str, Thresholds] | None = None,
    column_links: dict[str, Sequence[tuple[str, str]]] | None = None,
    sort_ascending: bool = False,
) -> Any:
    """An instant table. `columns` maps field names (labels, "Value", "Value #B"...) to the header shown;
    fields not named there are hidden. With several queries the frames are joined on `join_by`. A column
    with a value mapping or its own thresholds (`column_steps`) is drawn with a coloured background;
    `column_links` gives a column (title, url) cell links.
    """
    transformations: list[dashboard_model.DataTransformerConfig] = []
    if len(queries) > 1:
        if join_by:
            transformations.append(
                dashboard_model.DataTransformerConfig(
                    id_val="joinByField", options={"byField": join_by, "mode": "outer"}
                )
            )
        else:
            transformations.append(dashboard_model.DataTransformerConfig(id_val="merge", options={}))
    transformations.extend(
        dashboard_model.DataTransformerConfig(id_val=t["id"], options=t["options"]) for t in extra
    )
    transformations.append(
        dashboard_model.DataTransformerConfig(
            id_val="filterFieldsByName", options={"include": {"names": list(columns)}}
        )
    )
    transformations.append(
        dashboard_model.DataTransformerConfig(
            id_val="organize",
            options={
                "indexByName": {name: index for index, name in enumerate(columns)},
                "renameByName": dict(columns),
                "excludeByName": {},
            },
        )
    )
    for transformation in transformations:
        panel = panel.with_transformation(transformation)
    overrides = [
        _column_override(columns.get(col, col), "unit", col_unit)
        for col, col_unit in (column_units or {}).items()
    ]
    for col, mapping in (column_mappings or {}).items():
        overrides.append(_column_override(columns.get(col, col), "mappings", [mapping]))
        overrides.append(_column_override(columns.get(col, col), "custom.cellOptions", COLOURED_CELL))
    for col, col_steps in (column_steps or {}).items():
        overrides.append(_column_override(columns.get(col, col), "thresholds", _thresholds_json(col_steps)))
        overrides.append(_column_override(columns.get(col, col), "custom.cellOptions", COLOURED_CELL))
    for col, col_links in (column_links or {}).items():
        overrides.append(
            _column_override(
                columns.get(col, col),
                "links",
                [
                    {"title": link_title, "url": url, "targetBlank": not url.startswith("/d/")}
                    for link_title, url in col_links
                ],
            )
        )
    panel = panel.overrides(overrides)
    if sort_by:
        panel = panel.sort_by(
            [common_builder.TableSortByFieldState().display_name(sort_by).desc(not sort_ascending)]
        )
    return panel.show_header(True)


def table(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    columns: dict[str, str],
    values: dict[str, Query] | None = None,
    **options: Any,
) -> Any:
    """An instant table (`_table`): `queries` give the rows and their label columns (`columns`); each of
    `values` (header -> query) adds a column of its own with the query's value, after `columns`. Units,
    mappings and thresholds of a value column are keyed by its header."""
    values = values or {}
    every = [*queries, *values.values()]
    value_columns = {
        value_field(len(queries) + index, len(every)): header for index, header in enumerate(values)
    }
    return _table(title, description, every, columns={**columns, **value_columns}, **options)


def _number_conversion(*fields: str) -> dict:
    return {
        "id": "convertFieldType",
        "options": {
            "fields": {},
            "conversions": [{"targetField": field, "destinationType": "number"} for field in fields],
        },
    }


def geomap(
    title: str,
    description: str,
    query: Query,
    *,
    layer: str,
    layer_name: str,
    unit: str,
    steps: Thresholds,
    width: int = 12,
    height: int = 12,
    links: Iterable[dashboard_builder.DashboardLink] = (),
):
    """A map of Santiago. The query returns one series per point with `latitude` and `longitude` labels
    (joined from `smmc_concentrator_info`); the value weights the heat map or colours the marker."""
    if layer == "heatmap":
        config: dict = {"blur": 20, "radius": 8, "weight": {"field": "Value", "fixed": 1, "min": 0, "max": 1}}
    else:
        config = {
            "showLegend": True,
            "style": {
                "color": {"field": "Value", "fixed": "dark-green"},
                "opacity": 0.7,
                "size": {"fixed": 6, "min": 4, "max": 12},
                "symbol": {"fixed": "img/icons/marker/circle.svg", "mode": "fixed"},
            },
        }
    panel = geomap_builder.Panel()
    panel = _with_common(
        panel, title, description, [query], unit, steps, links, width, height, instant=True, table=True
    )
    return (
        panel.with_transformation(
            dashboard_model.DataTransformerConfig(
                id_val="convertFieldType", options=_number_conversion("latitude", "longitude")["options"]
            )
        )
        .color_scheme(dashboard_builder.FieldColor().mode(dashboard_model.FieldColorModeId.THRESHOLDS))
        .view(
            geomap_builder.MapViewConfig().id("coords").lat(MAP_CENTER[0]).lon(MAP_CENTER[1]).zoom(MAP_ZOOM)
        )
        .controls(
            geomap_builder.ControlsOptions()
            .show_zoom(True)
            .mouse_wheel_zoom(True)
            .show_attribution(True)
            .show_scale(True)
        )
        .basemap(common_builder.MapLayerOptions().type("default").name("Basemap"))
        .layers(
            [
                common_builder.MapLayerOptions()
                .type(layer)
                .name(layer_name)
                .config(config)
                .location(
                    common_builder.FrameGeometrySource()
                    .mode(common_model.FrameGeometrySourceMode.COORDS)
                    .latitude("latitude")
                    .longitude("longitude")
                )
                .tooltip(True)
            ]
        )
        .tooltip(geomap_builder.TooltipOptions().mode(_details_tooltip()))
    )


def _details_tooltip():
    from grafana_foundation_sdk.models import geomap as geomap_model

    return geomap_model.TooltipMode.DETAILS


def value_text(mapping: dict[str, tuple[str, str]]) -> dashboard_model.ValueMap:
    """Value -> (text, colour): e.g. 1 -> UP green, 0 -> DOWN red."""
    return dashboard_model.ValueMap(
        options={
            value: dashboard_model.ValueMappingResult(text=text, color=color, index=index)
            for index, (value, (text, color)) in enumerate(mapping.items())
        }
    )


def coloured(colours: dict[str, str]) -> dashboard_model.ValueMap:
    """Each value shown as itself in its colour: e.g. critical red, warning orange."""
    return value_text({value: (value, colour) for value, colour in colours.items()})


SEVERITY_COLOUR = {"critical": "red", "warning": "orange", "info": "blue"}
SEVERITY_COLOURS = coloured(SEVERITY_COLOUR)
# a count of alerts (or flags) of each severity: green at 0, the severity's colour from one
SEVERITY_STEPS = {severity: any_is(colour) for severity, colour in SEVERITY_COLOUR.items()}


def one_zero(one: str, zero: str, colours: tuple[str, str] = ("green", "red")) -> dashboard_model.ValueMap:
    """A 1/0 value in words: e.g. 1 -> OK green, 0 -> NOK red."""
    return value_text({"1": (one, colours[0]), "0": (zero, colours[1])})


def legend(*labels: str) -> str:
    """The legend that names a series by its labels: `{{action}}: {{result}}`."""
    return ": ".join(f"{{{{{label}}}}}" for label in labels)


# ---------------------------------------------------------------------------------------------------
# Panel families: one way to draw a kind of fact, its defaults stated once


def up_stat(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    up: str = "UP",
    down: str = "DOWN",
    **options: Any,
) -> Any:
    """Whether something works (1) or not (0), in words: `up` in green, `down` in red."""
    return stat(
        title,
        description,
        queries,
        unit="none",
        steps=UP_DOWN,
        mappings=[one_zero(up, down)],
        **options,
    )


def hourly(
    title: str, description: str, queries: Sequence[Query], *, steps: Thresholds = OK_ONLY, **options: Any
) -> Any:
    """Counts per hour (increases over 1h), one point an hour."""
    return timeseries(title, description, queries, unit="short", steps=steps, interval="1h", **options)


def by(aggregation: str, labels: Sequence[str], expr: str) -> Query:
    """`aggregation by (labels) (expr)`, each series named by its labels."""
    return Query(f"{aggregation} by ({', '.join(labels)}) ({expr})", legend(*labels))


def increase_by(counter: str, labels: Sequence[str], window: str = "1h") -> Query:
    """A counter's increase over `window`, summed by `labels` and named by them."""
    return by("sum", labels, f"increase({counter}[{window}])")


def stacked_counts(title: str, description: str, query: Query, **options: Any) -> Any:
    """How many over time, a band per series stacked on the others: the top of the stack is the total."""
    return timeseries(title, description, [query], unit="short", stacked=True, **options)


def count(
    title: str, description: str, expr: str, *, steps: Thresholds, legend: str = "", **options: Any
) -> Any:
    """How many there are now: one big number."""
    return stat(title, description, [Query(expr, legend)], unit="short", steps=steps, **options)


def share(title: str, description: str, expr: str, *, steps: Thresholds, **options: Any) -> Any:
    """What part of a whole (0 to 1) now: one big percentage."""
    return stat(title, description, [Query(expr)], unit="percentunit", steps=steps, **options)


def breakdown(
    title: str,
    description: str,
    expr: str,
    labels: Sequence[str],
    *,
    steps: Thresholds,
    aggregation: str = "sum",
    unit: str = "short",
    **options: Any,
) -> Any:
    """A bar per value of `labels` (the `aggregation` of `expr` by them), the largest first."""
    bars = by(aggregation, labels, expr)
    return bargauge(
        title, description, [Query(f"sort_desc({bars.expr})", bars.legend)], unit=unit, steps=steps, **options
    )


def top10(
    title: str,
    description: str,
    expr: str,
    label: str,
    *,
    steps: Thresholds,
    aggregation: str = "sum",
    unit: str = "short",
    **options: Any,
) -> Any:
    """The ten values of `label` with the largest `aggregation` of `expr`, a bar each."""
    top = by(aggregation, [label], expr)
    return bargauge(
        title, description, [Query(f"topk(10, {top.expr})", top.legend)], unit=unit, steps=steps, **options
    )


def top_concentrators(
    title: str, description: str, expr: str, *, steps: Thresholds, aggregation: str = "sum", **options: Any
) -> Any:
    """The ten concentrators with the largest `aggregation` of `expr`, a bar each that opens its
    concentrator."""
    return top10(
        title,
        description,
        expr,
        "concentrator",
        steps=steps,
        aggregation=aggregation,
        links=[concentrator_link()],
        **options,
    )


# ---------------------------------------------------------------------------------------------------
# Variables


def query_variable(
    name: str, label: str, query: str, description: str, *, include_all: bool = True, multi: bool = True
) -> dashboard_builder.QueryVariable:
    variable = (
        dashboard_builder.QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(dashboard_model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard_model.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
        .multi(multi)
        .include_all(include_all)
    )
    if include_all:
        variable = variable.all_value(".*").current(
            dashboard_model.VariableOption(selected=True, text="All", value="$__all")
        )
    return variable


def location_variables() -> list[dashboard_builder.QueryVariable]:
    """`$comuna` and `$concentrator` (of the selected comunas), both from the inventory: the filters every
    dashboard about meters, concentrators, routers and work orders shares, and that drill-down links carry
    between them (one meaning per name: the same label and description everywhere)."""
    return [
        query_variable(
            "comuna",
            "Comuna",
            "label_values(smmc_concentrator_info, comuna)",
            "Comuna of the concentrator (from the inventory).",
        ),
        query_variable(
            "concentrator",
            "Concentrator",
            'label_values(smmc_concentrator_info{comuna=~"$comuna"}, concentrator)',
            "Concentrator (LVM), from the inventory, of the selected comunas.",
        ),
    ]


def custom_variable(
    name: str, label: str, values: Sequence[str], description: str
) -> dashboard_builder.CustomVariable:
    return (
        dashboard_builder.CustomVariable(name)
        .label(label)
        .description(description)
        .values(",".join(values))
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(dashboard_model.VariableOption(selected=True, text="All", value="$__all"))
        .options([dashboard_model.VariableOption(selected=False, text=v, value=v) for v in values])
    )


def url_variable(name: str, label: str, description: str, default: str) -> dashboard_builder.TextBoxVariable:
    """Where the NOC's browser reaches a service: a text box an installation sets to its own URL."""
    return (
        dashboard_builder.TextBoxVariable(name)
        .label(label)
        .description(description)
        .default_value(default)
        .current(dashboard_model.VariableOption(selected=True, text=default, value=default))
    )


ALERTMANAGER_URL = "http://localhost:9093"


def alertmanager_variable() -> dashboard_builder.TextBoxVariable:
    """Where the NOC's browser reaches Alertmanager (the compose stack publishes it on :9093)."""
    return url_variable(
        "alertmanager_url",
        "Alertmanager URL",
        "Alertmanager as the browser reaches it, for the alert and silence links.",
        ALERTMANAGER_URL,
    )


# ---------------------------------------------------------------------------------------------------
# Links


def dashboard_url(key: str) -> str:
    uid, slug = UIDS[key]
    return f"/d/{uid}/{slug}"


def drilldown(
    title: str, key: str, variables: dict[str, str], *, from_fields: bool = False
) -> dashboard_builder.DashboardLink:
    """A data link to dashboard `key` with its variables set from the clicked series' labels
    (`${__field.labels.X}`) or, in tables, from the clicked row (`${__data.fields.X}`)."""
    params = []
    for variable, label in variables.items():
        source = f"__data.fields.{label}" if from_fields else f"__field.labels.{label}"
        params.append(f"var-{quote(variable)}=${{{source}}}")
    params.append("${__url_time_range}")
    return dashboard_builder.DashboardLink(title).url(f"{dashboard_url(key)}?{'&'.join(params)}")


def object_link(
    what: str, key: str, variable: str, *, from_fields: bool = False
) -> dashboard_builder.DashboardLink:
    """A link, titled `what` and the object, to dashboard `key` filtered to the clicked object: its
    variable `variable` set from the label (or table field) of the same name."""
    source = f"__data.fields.{variable}" if from_fields else f"__field.labels.{variable}"
    return drilldown(f"{what} ${{{source}}}", key, {variable: variable}, from_fields=from_fields)


def concentrator_link(*, from_fields: bool = False) -> dashboard_builder.DashboardLink:
    """A bar's (or row's) link to its concentrator: the Concentrators dashboard filtered to it."""
    return object_link("Concentrator", "concentrators", "concentrator", from_fields=from_fields)


def dashboard_link(title: str, key: str) -> dashboard_builder.DashboardLink:
    """A data link that opens dashboard `key` with the same time range (its variables at their default)."""
    return dashboard_builder.DashboardLink(title).url(f"{dashboard_url(key)}?${{__url_time_range}}")


def coarse_over_time(function: str, expr: str, window: str, step: str) -> str:
    """`max_over_time(expr[window])` (or min) read on a `step` grid (a subquery: window/step points per
    series instead of every sample), with the last `step` read in full: a subquery's points sit on
    multiples of the step, so the samples after the last grid point count too (elementwise max/min of
    the two)."""
    if function not in ("max", "min"):
        raise ValueError(f"coarse_over_time: {function!r} is not max or min")
    compare = ">=" if function == "max" else "<="
    grid = f"{function}_over_time({expr}[{window}:{step}])"
    recent = f"{function}_over_time({expr}[{step}])"
    return f"(({grid} {compare} {recent}) or {recent})"


def concentrator_out_of_scope() -> str:
    """Concentrators the inventory puts outside the selected comunas: `X unless on (concentrator) ...`
    keeps X to the comuna filter while a concentrator the inventory does not know stays in every scope."""
    return (
        "(max by (concentrator) (smmc_concentrator_info) unless on (concentrator) "
        'max by (concentrator) (smmc_concentrator_info{comuna=~"$comuna"}))'
    )


# The objects of the metering chain: label (and variable) -> what the NOC calls it, the dashboard about it.
OBJECTS = {
    "comuna": ("Comuna", "meters"),
    "concentrator": ("Concentrator", "concentrators"),
    "modem": ("Router", "communications"),
}


def object_columns(*labels: str) -> dict[str, str]:
    """Table columns of objects, headed the same everywhere (modem -> Router)."""
    return {label: OBJECTS[label][0] for label in labels}


def object_cell_links(*columns: str) -> dict[str, list[tuple[str, str]]]:
    """Table cell links from an object column to its dashboard: comuna -> Meters, concentrator ->
    Concentrators, modem (router) -> Communications, each with the variable set."""
    out = {}
    for column in columns:
        what, key = OBJECTS[column]
        url = f"{dashboard_url(key)}?var-{column}=${{__data.fields.{column}}}&${{__url_time_range}}"
        out[column] = [(f"{what} ${{__data.fields.{column}}}", url)]
    return out


def control_room_links() -> list[dashboard_builder.DashboardLink]:
    """The menu of every Control Room dashboard, keeping time range and the shared variables."""
    return [
        dashboard_builder.DashboardLink("Control Room")
        .type(dashboard_model.DashboardLinkType.DASHBOARDS)
        .tags([FOLDER_TAG])
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
    ]


def dashboard(
    key: str,
    title: str,
    description: str,
    tags: Sequence[str],
    variables: Sequence[dashboard_builder.QueryVariable | dashboard_builder.CustomVariable],
    sections: Sequence[tuple[str, Sequence[object]] | tuple[str, Sequence[object], bool]],
    *,
    refresh: str,
    time_from: str = "now-24h",
) -> dashboard_builder.Dashboard:
    """`sections`: (row title, panels) or (row title, panels, collapsed). `refresh` follows the cadence
    of the fastest data the dashboard reads (lint.check_refresh): 1m for alerts and polls, 15m for the
    daily files."""
    uid, _slug = UIDS[key]
    board = (
        dashboard_builder.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([*BASE_TAGS, *tags])
        .readonly()
        .timezone("browser")
        .time(time_from, "now")
        .refresh(refresh)
        .tooltip(dashboard_model.DashboardCursorSync.CROSSHAIR)
        .links(control_room_links())
    )
    for variable in variables:
        board = board.with_variable(variable)
    for section in sections:
        row_title, panels = section[0], section[1]
        if len(section) > 2 and section[2]:
            row = dashboard_builder.Row(row_title).collapsed(True)
            for panel in panels:
                row = row.with_panel(panel)
            board = board.with_row(row)
            continue
        board = board.with_row(dashboard_builder.Row(row_title))
        for panel in panels:
            board = board.with_panel(panel)
    return board
