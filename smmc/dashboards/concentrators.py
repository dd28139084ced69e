"""Concentrators: the seed's LVM Control Room (concentrator status-word conditions, from SMMePlus)."""

from __future__ import annotations

from smmc.dashboards import panels as p
from smmc.dashboards.panels import Query

KEY = "concentrators"
TITLE = "Concentrators"

COND = (
    'smmc_concentrator_condition{comuna=~"$comuna",concentrator=~"$concentrator",flag=~"$condition",'
    'priority=~"$priority"}'
)
# The inventory's concentrators of the selected comunas: joining on it keeps a panel to the comuna filter
# (the status-word series carry no comuna).
INVENTORY = 'smmc_concentrator_info{comuna=~"$comuna",concentrator=~"$concentrator"}'
IN_SCOPE = f"* on (concentrator) group_left () max by (concentrator) ({INVENTORY})"
# the comuna and router of a concentrator, for object tables
OBJECT = f"* on (concentrator) group_left (comuna, modem) max by (concentrator, comuna, modem) ({INVENTORY})"
REPORTING = f"(smmc_concentrator_status_word {IN_SCOPE})"
WITH_CONDITION = f"count(count by (concentrator) ({COND}))"
# the CSW letter's name from the catalog ("U" -> "PLC Modem Failure")
FLAG_NAME = "* on (flag) group_left (name) max by (flag, name) (smmc_concentrator_flag_info)"
ROW_CAP = 500
PRIORITIES = ("alta", "media", "baja")
PRIORITY_ZEROS = " or ".join(f'label_replace(vector(0), "priority", "{p}", "", "")' for p in PRIORITIES)

# a concentrator carries about 200 meters; 1 % of Enel's 10,000 concentrators is 100
UNREACHABLE_STEPS = p.levels(1, 100)
CONDITIONS_STEPS = p.levels(2, 4)
SHARE_STEPS = p.levels(0.1, 0.3)


def build():
    variables = [
        *p.location_variables(),
        p.query_variable(
            "condition",
            "Condition",
            "label_values(smmc_concentrator_condition, flag)",
            "CSW condition (the legend's letter name) in its alarm state.",
        ),
        p.custom_variable(
            "priority", "Priority", list(PRIORITIES), "Priority of the CSW condition in the catalog."
        ),
    ]
    now = [
        p.share(
            "Share of concentrators with a condition",
            "Concentrators with at least one status-word condition in its alarm state (of the selected "
            "conditions and priorities) as a share of those reporting a status word (selected comunas).",
            f"({WITH_CONDITION} or on () vector(0)) / count({REPORTING})",
            steps=SHARE_STEPS,
        ),
        p.stat(
            "Concentrators with a condition now, by priority",
            "Distinct concentrators with at least one condition of each priority in its alarm state (0 "
            "shown).",
            [
                Query(
                    f"count by (priority) (count by (concentrator, priority) ({COND})) or on (priority) "
                    f"({PRIORITY_ZEROS})",
                    "{{priority}}",
                )
            ],
            unit="short",
            steps=p.NEUTRAL,
        ),
        p.count(
            "Unreachable concentrators",
            "Concentrators the status-word report marks as not reachable (isreachable = 0), in the selected "
            "comunas. Orange from one (ConcentratorUnreachable fires), red from 100 (1 % of the fleet).",
            f"sum((smmc_concentrator_reachable {IN_SCOPE}) == bool 0) or on () vector(0)",
            steps=UNREACHABLE_STEPS,
        ),
        p.count(
            "Concentrators reporting a status word",
            "Concentrators of the selected comunas in the newest ConcentratorStatusWordAnalyzedReport.",
            f"count({REPORTING})",
            steps=p.NEUTRAL,
        ),
    ]
    history = [
        p.timeseries(
            "Concentrators with each status-word condition",
            'The seed\'s "histórico de cantidad de concentradores que presentan palabras estado": '
            "concentrators per CSW condition over time, named from the catalog.",
            [Query(f"count by (flag) ({COND}) {FLAG_NAME}", "{{flag}} {{name}}")],
            unit="short",
        ),
        p.stacked_counts(
            "Concentrators with a condition, by priority",
            "Distinct concentrators with at least one condition of each priority (alta, media, baja).",
            p.by("count", ["priority"], f"count by (concentrator, priority) ({COND})"),
        ),
        p.timeseries(
            "Top 10 comunas by concentrators with a condition",
            "The ten comunas with the most concentrators in a condition at the end of the time range, over "
            "time. Click a series to filter by its comuna.",
            [
                Query(
                    f"count by (comuna) (count by (concentrator, comuna) ({COND})) and on (comuna) "
                    f"topk(10, count by (comuna) (count by (concentrator, comuna) ({COND} @ end())))",
                    "{{comuna}}",
                )
            ],
            unit="short",
            links=[p.object_link("Comuna", KEY, "comuna")],
        ),
    ]
    distribution = [
        p.bargauge(
            "Share of concentrators per condition",
            'The seed\'s "% de concentradores con las distintas palabras estado": concentrators with '
            "each condition as a share of the concentrators reporting a status word (selected comunas).",
            [
                Query(
                    f"sort_desc((count by (flag) ({COND}) / on () group_left () count({REPORTING})) "
                    f"{FLAG_NAME})",
                    "{{flag}} {{name}}",
                )
            ],
            unit="percentunit",
            steps=SHARE_STEPS,
            width=8,
            maximum=1,
            links=[p.drilldown("Filter by condition ${__field.labels.flag}", KEY, {"condition": "flag"})],
        ),
        p.top_concentrators(
            "Top 10 concentrators by conditions",
            "Concentrators with the most status-word conditions (of the selected ones) at once. Click a bar "
            "for its detail.",
            COND,
            aggregation="count",
            steps=CONDITIONS_STEPS,
            width=8,
        ),
        p.table(
            "Top 10 comunas, by priority",
            "Concentrators with a condition per comuna and priority, for the ten comunas with the most.",
            [
                Query(
                    f"count by (comuna, priority) (count by (concentrator, comuna, priority) ({COND})) "
                    f"and on (comuna) topk(10, count by (comuna) (count by (concentrator, comuna) ({COND})))"
                )
            ],
            unit="short",
            columns={"comuna": "Comuna", "priority": "Priority", "Value": "Concentrators"},
            sort_by="Concentrators",
            width=8,
            height=8,
            column_links=p.object_cell_links("comuna"),
            links=[p.object_link("Comuna", KEY, "comuna", from_fields=True)],
        ),
    ]
    detail = [
        p.table(
            "Conditions of the selected concentrators",
            "Every CSW condition in its alarm state, named from the catalog, with the concentrator's comuna "
            f"and router (at most {ROW_CAP} rows). Click the concentrator for its meters, the router for "
            "its OpenGate detail.",
            [
                Query(
                    f"topk({ROW_CAP}, {COND} {FLAG_NAME} "
                    "* on (concentrator) group_left (modem) max by (concentrator, modem) "
                    f"({INVENTORY}))"
                )
            ],
            unit="short",
            columns={
                **p.object_columns("concentrator", "comuna", "modem"),
                "flag": "Condition",
                "name": "Name",
                "priority": "Priority",
            },
            column_mappings={"priority": p.coloured({"alta": "red", "media": "orange", "baja": "blue"})},
            column_links={
                "concentrator": [
                    (
                        "Meters of ${__data.fields.concentrator}",
                        p.dashboard_url("meters")
                        + "?var-concentrator=${__data.fields.concentrator}&${__url_time_range}",
                    )
                ],
                **p.object_cell_links("modem"),
            },
            sort_by="Concentrator",
            sort_ascending=True,
            width=12,
            height=10,
        ),
        p.table(
            "Status word of the selected concentrators",
            "Raw CSW (decimal), reachability and the age of the last status-word update, with the "
            f"concentrator's comuna and router (at most {ROW_CAP}, the stalest first).",
            [],
            columns=p.object_columns("concentrator", "comuna", "modem"),
            values={
                "CSW": Query(f"topk({ROW_CAP}, smmc_concentrator_status_word {OBJECT})"),
                "Reachable": Query(f"smmc_concentrator_reachable {IN_SCOPE}"),
                "Status word age": Query(
                    f"time() - (smmc_concentrator_status_word_timestamp_seconds {IN_SCOPE})"
                ),
            },
            join_by="concentrator",
            column_units={"Status word age": "s"},
            column_mappings={"Reachable": p.one_zero("reachable", "unreachable")},
            column_links=p.object_cell_links("concentrator", "modem"),
            sort_by="Status word age",
            width=12,
            height=10,
        ),
        p.geomap(
            "Concentrator performance map",
            "Each concentrator at its coordinates, coloured by the number of CSW conditions (of the selected "
            "ones) it has (green: none).",
            Query(
                f"(count by (concentrator) ({COND}) or on (concentrator) "
                "(0 * max by (concentrator) (smmc_concentrator_status_word))) "
                "* on (concentrator) group_left (comuna, latitude, longitude) "
                f"max by (concentrator, comuna, latitude, longitude) ({INVENTORY})"
            ),
            layer="markers",
            layer_name="Concentrators",
            unit="short",
            steps=p.levels(1, 3),
            width=24,
            links=[p.concentrator_link(from_fields=True)],
        ),
    ]
    return p.dashboard(
        KEY,
        TITLE,
        "Concentrator status-word conditions from SMMePlus: history, shares, priorities, top concentrators.",
        ["concentrators", "smmeplus"],
        variables,
        [("Now", now), ("History", history), ("Distribution", distribution), ("Detail and map", detail)],
        refresh="15m",
    )
