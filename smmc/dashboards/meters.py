"""Meters: the seed's meter Control Room (events and alarms of the NEXY-M meters, from SMMePlus)."""

from __future__ import annotations

from smmc.dashboards import panels as p
from smmc.dashboards.panels import Query

KEY = "meters"
TITLE = "Meters"

# Counts of meters are distinct meters (smmc_meters_flagged: one series per concentrator and the most severe
# flag of the meter, so a meter with four flags counts once and the severities add up). An "alarm" is a
# critical or warning flag; info flags (e.g. PUP, power back) are events, not alarms.
SCOPE = 'comuna=~"$comuna",concentrator=~"$concentrator"'
FLAGGED = f'smmc_meters_flagged{{{SCOPE},severity=~"$flag_severity"}}'
# distinct meters under their most severe flag, a series per severity
FLAGGED_BY_SEVERITY = p.by("sum", ["severity"], FLAGGED)
ALARMED = f'smmc_meters_flagged{{{SCOPE},severity=~"$flag_severity",severity!="info"}}'
ALARMED_PER_COMUNA = (
    'comuna_severity:smmc_meters_flagged:sum{comuna=~"$comuna",severity=~"$flag_severity",severity!="info"}'
)
BY_CATEGORY = f"smmc_meters_flagged_by_category{{{SCOPE}}}"
# meters with each flag (the per-flag family counts each meter once per flag), with the catalog's severity
PER_FLAG = (
    f'sum by (flag) (smmc_meters_with_active_flag{{{SCOPE},flag=~"$flag"}}) '
    "* on (flag) group_left (severity) "
    'max by (flag, severity) (smmc_meter_flag_info{severity=~"$flag_severity"})'
)
COMUNA = '{comuna=~"$comuna"}'
INVENTORY = f"sum(smmc_meters{COMUNA})"
# the share of the fleet with an alarm: 0.5 % of Enel's 2 million meters is 10,000
ALARM_SHARE_STEPS = p.levels(0.005, 0.02)
# meters of one concentrator (about 200 each) with an alarm
CONCENTRATOR_ALARM_STEPS = p.levels(10, 50)
METER_ROW_CAP = 500


def build():
    variables = [
        *p.location_variables(),
        p.query_variable(
            "flag",
            "Flag",
            "label_values(smmc_meter_flag_info, flag)",
            "Meter status-word flag (acronym from the catalog).",
        ),
        p.custom_variable(
            "flag_severity",
            "Flag severity",
            ["critical", "warning", "info"],
            "Severity of a meter flag in the catalog (a meter counts under its most severe flag).",
        ),
    ]
    now = [
        p.share(
            "Share of meters with an alarm",
            "Distinct meters with at least one critical or warning flag active, as a share of the meters in "
            "the inventory (selected comunas and concentrators). Red from 2 %.",
            f"(sum({ALARMED}) or on () vector(0)) / {INVENTORY}",
            steps=ALARM_SHARE_STEPS,
        ),
        p.stat(
            "Meters with an active flag, by most severe flag",
            "Distinct meters with an active flag, each counted once under the most severe of its flags "
            "(the three add up to the meters with any flag).",
            [FLAGGED_BY_SEVERITY],
            unit="short",
            steps=p.NEUTRAL,
        ),
        p.count(
            "Meters with events in the newest SWE file",
            "Distinct meters with at least one event or alarm row in the newest SWE file, in the selected "
            "comunas (counted per comuna: the concentrator filter does not apply).",
            f"sum(smmc_meters_with_events{COMUNA})",
            steps=p.NEUTRAL,
        ),
        p.share(
            "Share of meters with events",
            "Meters with at least one event in the newest SWE file, as a share of the inventory.",
            f"sum(smmc_meters_with_events{COMUNA}) / {INVENTORY}",
            steps=p.levels(0.05, 0.2),
        ),
    ]
    history = [
        p.stacked_counts(
            "Meters with an active event or alarm, by severity",
            "Distinct meters with an active flag over time, each under its most severe flag; the stack is "
            'the meters with any flag (the seed\'s "cantidad de medidores con evento y alarma por hora").',
            FLAGGED_BY_SEVERITY,
        ),
        p.timeseries(
            "Event rows ingested per hour, by flag",
            "SWE event and alarm rows per hour of ingestion, by the flag they set: the daily file lands "
            "at once, so this is the size of each file, not the hour of the event (SWE rows carry the "
            "event's date, not its time; the seed's per-hour meter count is the graph beside this one). "
            "Fleet-wide (a recording rule per flag): the comuna and concentrator filters do not apply.",
            [Query('flag:smmc_meter_events:increase1h{flag=~"$flag"}', "{{flag}}")],
            unit="short",
            bars=True,
            interval="1h",
        ),
    ]
    distribution = [
        p.breakdown(
            "Meters by alarm category",
            "Distinct meters with an active flag of each catalog category (tamper, hardware, clock...); a "
            "meter with flags of two categories is in both bars.",
            BY_CATEGORY,
            ["category"],
            steps=p.NEUTRAL,
            width=6,
        ),
        p.bargauge(
            "Meters by event and alarm type",
            "Meters with each flag active (the seed's \"distribución de medidores por tipo de evento "
            'y alarma"), with the severity of the flag. Click a bar to filter this dashboard by that flag.',
            [Query(f"sort_desc({PER_FLAG})", "{{flag}} ({{severity}})")],
            unit="short",
            steps=p.NEUTRAL,
            width=6,
            links=[p.object_link("Filter by flag", KEY, "flag")],
        ),
        p.top_concentrators(
            "Top 10 concentrators by meters with an alarm",
            "Concentrators with the most distinct meters with a critical or warning flag (info flags left "
            "out; a meter with two flags counts once). Click a bar for the concentrator's detail.",
            ALARMED,
            steps=CONCENTRATOR_ALARM_STEPS,
            width=6,
        ),
        p.top10(
            "Top 10 comunas by meters with an alarm",
            "Comunas with the most distinct meters with a critical or warning flag (a recording rule per "
            "comuna: the concentrator filter does not apply). Click a bar to filter by the comuna.",
            ALARMED_PER_COMUNA,
            "comuna",
            steps=p.NEUTRAL,
            width=6,
            links=[p.object_link("Comuna", KEY, "comuna")],
        ),
    ]
    comunas = [
        p.table(
            "Meters and events per comuna, by measured at TD",
            "The seed's table: meters in the inventory, meters with events and events in the newest "
            "SWE file, per comuna and whether the meter is measured at the transformer (TD). Click a "
            "row to filter by its comuna.",
            [],
            unit="short",
            columns={"comuna": "Comuna", "measured_at_td": "Measured at TD"},
            values={
                header: Query(f"sum by (comuna, measured_at_td) ({metric}{COMUNA})")
                for header, metric in (
                    ("Meters", "smmc_meters"),
                    ("Meters with events", "smmc_meters_with_events"),
                    ("Events", "smmc_meter_events"),
                )
            },
            sort_by="Meters",
            width=12,
            height=12,
            links=[p.object_link("Comuna", KEY, "comuna", from_fields=True)],
        ),
        p.geomap(
            "Meters with alarms: heat map",
            "Distinct meters with a critical or warning flag, weighted at their concentrator's coordinates "
            "(smmc_concentrator_info).",
            Query(
                f"sum by (concentrator) ({ALARMED}) * on (concentrator) group_left (latitude, longitude) "
                "max by (concentrator, latitude, longitude) (smmc_concentrator_info)"
            ),
            layer="heatmap",
            layer_name="Meters with alarms",
            unit="short",
            steps=CONCENTRATOR_ALARM_STEPS,
        ),
    ]
    serials = [
        p.table(
            "Meters with an active per-meter flag",
            "The meter serials behind the counts (the seed's daily meter outage check): every meter with an "
            "active flag the catalog tracks per meter (tamper, hardware...), with its concentrator, comuna "
            f"and router; at most {METER_ROW_CAP} rows (the exporter keeps the most severe first under its "
            "own cap). Click the concentrator or router for its dashboard.",
            [
                Query(
                    f"topk({METER_ROW_CAP}, "
                    'smmc_meter_flag_active{concentrator=~"$concentrator",flag=~"$flag"} '
                    "* on (flag) group_left (severity, category) "
                    'max by (flag, severity, category) (smmc_meter_flag_info{severity=~"$flag_severity"}) '
                    "* on (concentrator) group_left (comuna, modem) "
                    f"max by (concentrator, comuna, modem) (smmc_concentrator_info{COMUNA}))"
                )
            ],
            unit="short",
            columns={
                "meter": "Meter",
                "flag": "Flag",
                "severity": "Severity",
                "category": "Category",
                **p.object_columns("concentrator", "comuna", "modem"),
            },
            column_mappings={"severity": p.SEVERITY_COLOURS},
            column_links=p.object_cell_links("concentrator", "modem"),
            sort_by="Concentrator",
            sort_ascending=True,
            height=10,
        ),
    ]
    return p.dashboard(
        KEY,
        TITLE,
        "Events and alarms of the meters from SMMePlus: how many distinct meters, which flags, where, and "
        "the meter serials.",
        ["meters", "smmeplus"],
        variables,
        [
            ("Now", now),
            ("History", history),
            ("Distribution", distribution),
            ("Comunas and map", comunas),
            ("Meter serials", serials),
        ],
        refresh="15m",
    )
