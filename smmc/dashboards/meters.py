"""Meters: the seed's meter Control Room (events and alarms of the NEXY-M meters, from SMMePlus)."""

from __future__ import annotations

from smmc.dashboards import panels as p
from smmc.dashboards.panels import Query

KEY = "meters"
TITLE = "Meters"

# Aggregates read the recording rules (rules/recording.rules.yml), so that no panel sums 500,000 meters
# at query time: per comuna and flag, joined to the catalog's info metric for category and severity.
ACTIVE = 'comuna_flag:smmc_meters_with_active_flag:sum{comuna=~"$comuna",flag=~"$flag"}'
# The catalog as an info metric; `max by` keeps exactly one series per flag for the join.
FLAG_INFO = 'max by (flag, category, severity) (smmc_meter_flag_info{severity=~"$severity"})'
ACTIVE_WITH_INFO = f"({ACTIVE} * on (flag) group_left (category, severity) {FLAG_INFO})"
PER_CONCENTRATOR = (
    'concentrator:smmc_meters_with_active_flag:sum{comuna=~"$comuna",concentrator=~"$concentrator"}'
)
COMUNA = '{comuna=~"$comuna"}'


def build():
    variables = [
        *p.location_variables("Concentrator (LVM) the meters report through."),
        p.query_variable(
            "flag",
            "Flag",
            "label_values(smmc_meter_flag_info, flag)",
            "Meter status-word flag (acronym from the catalog).",
        ),
        p.custom_variable(
            "severity", "Severity", ["critical", "warning", "info"], "Severity of the flag in the catalog."
        ),
    ]
    now = [
        p.stat(
            "Meters in the inventory",
            "Meters in the inventory, per the comuna filter.",
            [Query(f"sum(smmc_meters{COMUNA})")],
            unit="short",
            steps=p.OK_ONLY,
        ),
        p.stat(
            "Meters with events in the newest SWE file",
            "Distinct meters with at least one event or alarm row in the newest SWE file.",
            [Query(f"sum(smmc_meters_with_events{COMUNA})")],
            unit="short",
            steps=((None, "green"), (1000, "orange"), (10000, "red")),
        ),
        p.stat(
            "Share of meters with events",
            "Meters with at least one event in the newest SWE file, as a share of the inventory.",
            [Query(f"sum(smmc_meters_with_events{COMUNA}) / sum(smmc_meters{COMUNA})")],
            unit="percentunit",
            steps=((None, "green"), (0.05, "orange"), (0.2, "red")),
        ),
        p.stat(
            "Active meter flags by severity",
            "Meter-flag pairs active in the newest state (SWE isactive and decoded status words), by the "
            "catalog's severity of the flag.",
            [Query(f"sum by (severity) {ACTIVE_WITH_INFO}", "{{severity}}")],
            unit="short",
            steps=p.ANY_IS_WARNING,
        ),
    ]
    history = [
        p.timeseries(
            "Meters with an active event or alarm, by severity",
            "Meters with each flag active, summed per severity, over time (the seed's "
            '"cantidad de medidores con evento y alarma por hora").',
            [Query(f"sum by (severity) {ACTIVE_WITH_INFO}", "{{severity}}")],
            unit="short",
            steps=p.OK_ONLY,
            stacked=True,
        ),
        p.timeseries(
            "Events ingested per hour, by flag",
            "Event and alarm rows ingested from SWE files per hour, by the flag they set.",
            [Query('flag:smmc_meter_events:increase1h{flag=~"$flag"}', "{{flag}}")],
            unit="short",
            steps=p.OK_ONLY,
            bars=True,
            interval="1h",
        ),
    ]
    distribution = [
        p.piechart(
            "Meters by alarm category",
            "Active meter flags grouped by the catalog's category (tamper, hardware, clock...).",
            [Query(f"sum by (category) {ACTIVE_WITH_INFO}", "{{category}}")],
            unit="short",
            width=8,
        ),
        p.bargauge(
            "Meters by event and alarm type",
            "Meters with each flag active (the seed's \"distribución de medidores por tipo de evento "
            'y alarma"). Click a bar to filter this dashboard by that flag.',
            [Query(f"sort_desc(sum by (flag) {ACTIVE_WITH_INFO})", "{{flag}}")],
            unit="short",
            steps=p.ANY_IS_WARNING,
            width=8,
            links=[p.drilldown("Filter by flag ${__field.labels.flag}", KEY, {"flag": "flag"})],
        ),
        p.bargauge(
            "Top 10 concentrators by meters with an active alarm",
            "Concentrators with the most meters with an active flag (a meter with two flags counts "
            "twice; every flag and severity). Click a bar for the concentrator's detail.",
            [Query(f"topk(10, {PER_CONCENTRATOR})", "{{concentrator}}")],
            unit="short",
            steps=((None, "green"), (10, "orange"), (50, "red")),
            width=8,
            links=[
                p.drilldown(
                    "Concentrator ${__field.labels.concentrator}",
                    "concentrators",
                    {"concentrator": "concentrator"},
                )
            ],
        ),
    ]
    comunas = [
        p.table(
            "Meters and events per comuna, by measured at TD",
            "The seed's table: meters in the inventory, meters with events and events in the newest "
            "SWE file, per comuna and whether the meter is measured at the transformer (TD). Click a "
            "row to filter by its comuna.",
            [
                Query(f"sum by (comuna, measured_at_td) (smmc_meters{COMUNA})"),
                Query(f"sum by (comuna, measured_at_td) (smmc_meters_with_events{COMUNA})"),
                Query(f"sum by (comuna, measured_at_td) (smmc_meter_events{COMUNA})"),
            ],
            unit="short",
            steps=p.OK_ONLY,
            columns={
                "comuna": "Comuna",
                "measured_at_td": "Measured at TD",
                "Value #A": "Meters",
                "Value #B": "Meters with events",
                "Value #C": "Events",
            },
            sort_by="Meters",
            width=12,
            height=12,
            links=[
                p.drilldown("Comuna ${__data.fields.comuna}", KEY, {"comuna": "comuna"}, from_fields=True)
            ],
        ),
        p.geomap(
            "Meters with alarms: heat map",
            "Meters with an active flag (every flag), weighted at their concentrator's coordinates "
            "(smmc_concentrator_info).",
            Query(
                f"{PER_CONCENTRATOR} * on (concentrator) group_left (latitude, longitude) "
                "max by (concentrator, latitude, longitude) (smmc_concentrator_info)"
            ),
            layer="heatmap",
            layer_name="Meters with alarms",
            unit="short",
            steps=((None, "green"), (10, "orange"), (50, "red")),
        ),
    ]
    return p.dashboard(
        KEY,
        TITLE,
        "Events and alarms of the meters from SMMePlus: how many meters, which flags, where.",
        ["meters", "smmeplus"],
        variables,
        [("Now", now), ("History", history), ("Distribution", distribution), ("Comunas and map", comunas)],
    )
