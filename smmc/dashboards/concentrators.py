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
REPORTING = 'smmc_concentrator_status_word{concentrator=~"$concentrator"}'
# Concentrators of the selected comunas that report a status word: the denominator of the shares.
REPORTING_IN_COMUNA = (
    f"count({REPORTING} * on (concentrator) group_left () "
    'max by (concentrator) (smmc_concentrator_info{comuna=~"$comuna"}))'
)
WITH_CONDITION = f"count(count by (concentrator) ({COND}))"
# Recording rules (rules/recording.rules.yml) for the aggregates.
BY_COMUNA_PRIORITY = (
    'comuna_priority:smmc_concentrator_condition:count{comuna=~"$comuna",priority=~"$priority"}'
)
PER_CONCENTRATOR = (
    'concentrator:smmc_concentrator_condition:count{comuna=~"$comuna",concentrator=~"$concentrator"}'
)

PRIORITY_STEPS = ((None, "green"), (1, "orange"), (20, "red"))


def build():
    variables = [
        *p.location_variables("Concentrator (LVM) name, e.g. TD-0011."),
        p.query_variable(
            "condition",
            "Condition",
            "label_values(smmc_concentrator_condition, flag)",
            "CSW condition (the legend's letter name) in its alarm state.",
        ),
        p.custom_variable(
            "priority", "Priority", ["alta", "media", "baja"], "Priority of the CSW condition in the catalog."
        ),
    ]
    now = [
        p.stat(
            "Concentrators reporting a status word",
            "Concentrators present in the newest ConcentratorStatusWordAnalyzedReport.",
            [Query(f"count({REPORTING})")],
            unit="short",
            steps=p.OK_ONLY,
        ),
        p.stat(
            "Concentrators with a condition",
            "Concentrators with at least one status-word condition in its alarm state.",
            [Query(f"{WITH_CONDITION} or on () vector(0)")],
            unit="short",
            steps=PRIORITY_STEPS,
        ),
        p.stat(
            "Share of concentrators with a condition",
            "Concentrators with a condition as a share of those reporting (in the selected comunas).",
            [Query(f"({WITH_CONDITION} or on () vector(0)) / {REPORTING_IN_COMUNA}")],
            unit="percentunit",
            steps=((None, "green"), (0.1, "orange"), (0.3, "red")),
        ),
        p.stat(
            "Unreachable concentrators",
            "Concentrators the status-word report marks as not reachable (isreachable = 0).",
            [Query('sum(smmc_concentrator_reachable{concentrator=~"$concentrator"} == bool 0)')],
            unit="short",
            steps=p.ANY_IS_BAD,
        ),
    ]
    history = [
        p.timeseries(
            "Concentrators with each status-word condition",
            'The seed\'s "histórico de cantidad de concentradores que presentan palabras estado": '
            "concentrators per CSW condition over time.",
            [Query(f"count by (flag) ({COND})", "{{flag}}")],
            unit="short",
            steps=p.OK_ONLY,
        ),
        p.timeseries(
            "Concentrators with a condition, by priority",
            "Distinct concentrators with at least one condition of each priority (alta, media, baja).",
            [Query(f"sum by (priority) ({BY_COMUNA_PRIORITY})", "{{priority}}")],
            unit="short",
            steps=p.OK_ONLY,
            stacked=True,
        ),
        p.timeseries(
            "Top 10 comunas by concentrators with a condition",
            "The ten comunas with the most concentrators in a condition, over time. Click a series "
            "to filter by its comuna.",
            [Query(f"topk(10, count by (comuna) (count by (concentrator, comuna) ({COND})))", "{{comuna}}")],
            unit="short",
            steps=p.OK_ONLY,
            links=[p.drilldown("Comuna ${__field.labels.comuna}", KEY, {"comuna": "comuna"})],
        ),
    ]
    distribution = [
        p.bargauge(
            "Share of concentrators per condition",
            'The seed\'s "% de concentradores con las distintas palabras estado": concentrators with '
            "each condition as a share of all concentrators reporting a status word (fleet-wide).",
            [Query('sort_desc(flag:smmc_concentrator_condition:ratio{flag=~"$condition"})', "{{flag}}")],
            unit="percentunit",
            steps=((None, "green"), (0.1, "orange"), (0.3, "red")),
            width=8,
            maximum=1,
            links=[p.drilldown("Filter by condition ${__field.labels.flag}", KEY, {"condition": "flag"})],
        ),
        p.bargauge(
            "Top 10 concentrators by conditions",
            "Concentrators with the most status-word conditions at once. Click a bar for its detail.",
            [Query(f"topk(10, {PER_CONCENTRATOR})", "{{concentrator}}")],
            unit="short",
            steps=((None, "green"), (2, "orange"), (4, "red")),
            width=8,
            links=[
                p.drilldown(
                    "Concentrator ${__field.labels.concentrator}", KEY, {"concentrator": "concentrator"}
                )
            ],
        ),
        p.table(
            "Top 10 comunas, by priority",
            "Concentrators with a condition per comuna and priority, for the ten comunas with the most.",
            [
                Query(
                    f"sum by (comuna, priority) ({BY_COMUNA_PRIORITY}) "
                    f"and on (comuna) topk(10, sum by (comuna) ({BY_COMUNA_PRIORITY}))"
                )
            ],
            unit="short",
            steps=PRIORITY_STEPS,
            columns={"comuna": "Comuna", "priority": "Priority", "Value": "Concentrators"},
            sort_by="Concentrators",
            width=8,
            height=8,
            links=[
                p.drilldown("Comuna ${__data.fields.comuna}", KEY, {"comuna": "comuna"}, from_fields=True)
            ],
        ),
    ]
    detail = [
        p.table(
            "Conditions of the selected concentrators",
            "Every CSW condition in its alarm state, with the concentrator's comuna and the priority.",
            [Query(COND)],
            unit="short",
            steps=p.OK_ONLY,
            columns={
                "concentrator": "Concentrator",
                "comuna": "Comuna",
                "flag": "Condition",
                "priority": "Priority",
            },
            width=12,
            height=10,
            links=[
                p.drilldown(
                    "Meters of ${__data.fields.concentrator}",
                    "meters",
                    {"concentrator": "concentrator"},
                    from_fields=True,
                )
            ],
        ),
        p.table(
            "Status word of the selected concentrators",
            "Raw CSW (decimal), reachability and the age of the last status-word update.",
            [
                Query(REPORTING),
                Query('smmc_concentrator_reachable{concentrator=~"$concentrator"}'),
                Query(
                    'time() - smmc_concentrator_status_word_timestamp_seconds{concentrator=~"$concentrator"}'
                ),
            ],
            unit="none",
            steps=p.OK_ONLY,
            join_by="concentrator",
            columns={
                "concentrator": "Concentrator",
                "Value #A": "CSW",
                "Value #B": "Reachable",
                "Value #C": "Status word age",
            },
            column_units={"Value #C": "s"},
            column_mappings={
                "Value #B": p.value_text({"1": ("reachable", "green"), "0": ("unreachable", "red")})
            },
            sort_by="Status word age",
            width=12,
            height=10,
        ),
        p.geomap(
            "Concentrator performance map",
            "Each concentrator at its coordinates, coloured by the number of CSW conditions it has "
            "(green: none).",
            Query(
                f"(max by (concentrator) ({PER_CONCENTRATOR}) or on (concentrator) "
                f"(0 * max by (concentrator) ({REPORTING}))) "
                "* on (concentrator) group_left (comuna, latitude, longitude) "
                "max by (concentrator, comuna, latitude, longitude) "
                '(smmc_concentrator_info{comuna=~"$comuna"})'
            ),
            layer="markers",
            layer_name="Concentrators",
            unit="short",
            steps=((None, "green"), (1, "orange"), (3, "red")),
            width=24,
            links=[
                p.drilldown(
                    "Concentrator ${__data.fields.concentrator}",
                    KEY,
                    {"concentrator": "concentrator"},
                    from_fields=True,
                )
            ],
        ),
    ]
    return p.dashboard(
        KEY,
        TITLE,
        "Concentrator status-word conditions from SMMePlus: history, shares, priorities, top concentrators.",
        ["concentrators", "smmeplus"],
        variables,
        [("Now", now), ("History", history), ("Distribution", distribution), ("Detail and map", detail)],
    )
