"""Work orders: results of the SMMePlus work orders (HPE, LPE, technical report) and their errors."""

from __future__ import annotations

from smmc.dashboards import panels as p
from smmc.dashboards.alert_thresholds import alert_param
from smmc.dashboards.panels import Query

KEY = "workorders"
TITLE = "Work orders"

RESULTS = 'smmc_workorders_total{source=~"$source"}'
ERRORS_1D = (
    'category_maintenance:smmc_workorder_errors:increase1d{category=~"$category",maintenance=~"$wo_action"}'
)
ERRORS_BY_CONCENTRATOR_1D_SELECTOR = (
    "concentrator_category_maintenance:smmc_workorder_errors:increase1d{"
    'concentrator=~"$concentrator",category=~"$category",maintenance=~"$wo_action"}'
)
ERRORS_BY_CONCENTRATOR_1D = (
    f"({ERRORS_BY_CONCENTRATOR_1D_SELECTOR} unless on (concentrator) {p.concentrator_out_of_scope()})"
)
ERRORS = (
    'smmc_workorder_errors_total{concentrator=~"$concentrator",category=~"$category",'
    'maintenance=~"$wo_action"}'
)
CATEGORY_RATE = alert_param("WorkOrderCategoryErrorRateHigh", "wo_category_max_ratio")
ERROR_STEPS = p.levels(1, 100)
PERSISTENT_ROWS = 20
# the fewest errors per day over 3 days, read on an hourly grid of the daily recording rule (72 points
# per series instead of every 30 s evaluation)
PERSISTENT = (
    f"({p.coarse_over_time('min', ERRORS_BY_CONCENTRATOR_1D_SELECTOR, '3d', '1h')} "
    f"unless on (concentrator) {p.concentrator_out_of_scope()})"
)
# the comuna and router of each concentrator row
WITH_OBJECT = (
    "* on (concentrator) group_left (comuna, modem) "
    "max by (concentrator, comuna, modem) (smmc_concentrator_info)"
)


def build():
    variables = [
        p.custom_variable(
            "source",
            "Report",
            ["hpe", "lpe", "technical"],
            "Work-order report: HPE (high priority), LPE (normal/low priority), technical.",
        ),
        p.query_variable(
            "category",
            "Error category",
            "label_values(smmc_workorder_errors_total, category)",
            "Work-order error category from the catalog of the seed's error table.",
        ),
        p.query_variable(
            "wo_action",
            "Prescribed action",
            "label_values(smmc_workorder_errors_total, maintenance)",
            "What the seed's table prescribes for the error: remote, retry, specialist, field.",
        ),
        *p.location_variables(),
    ]
    results = [
        p.share(
            "Share of work orders in error",
            "Work orders with outcome error as a share of all work orders in the time range.",
            f'sum(increase(smmc_workorders_total{{source=~"$source",outcome="error"}}[$__range])) '
            f"/ sum(increase({RESULTS}[$__range]))",
            # orange where a category's rate would fire WorkOrderCategoryErrorRateHigh, red at 4 times it
            steps=p.levels(CATEGORY_RATE, 4 * CATEGORY_RATE),
            width=8,
            height=8,
        ),
        p.hourly(
            "Work-order results per hour, by outcome",
            "Work orders whose result was ingested in each hour, ok or error.",
            [p.increase_by(RESULTS, ["outcome"])],
            bars=True,
            stacked=True,
            width=16,
        ),
        p.timeseries(
            "Work orders in the last day, by report and outcome",
            "Work orders of the last 24 hours per report (hpe, lpe, technical) and outcome.",
            [
                Query(
                    'source_outcome:smmc_workorders:increase1d{source=~"$source"}', "{{source}}: {{outcome}}"
                )
            ],
            unit="short",
        ),
        p.breakdown(
            "Results by activity and outcome",
            "Work orders in the dashboard's time range per activity (reachability, commissioning, "
            "meter reading...) and outcome.",
            f"increase({RESULTS}[$__range])",
            ["activity", "outcome"],
            steps=p.OK_ONLY,
            width=12,
        ),
    ]
    errors = [
        p.piechart(
            "Errors by category, last day",
            "Work-order errors of the last 24 hours per error category.",
            [p.by("sum", ["category"], ERRORS_1D)],
            unit="short",
            width=8,
        ),
        p.breakdown(
            "Errors by prescribed action, last day",
            "Work-order errors of the last 24 hours per action the seed's error table prescribes "
            "(the maintenance rung).",
            ERRORS_1D,
            ["maintenance"],
            steps=ERROR_STEPS,
            width=8,
        ),
        p.top_concentrators(
            "Top 10 concentrators by errors, last day",
            "Concentrators with the most work-order errors in the last 24 hours. Click one for its "
            "status word.",
            ERRORS_BY_CONCENTRATOR_1D,
            steps=ERROR_STEPS,
            width=8,
        ),
        p.hourly(
            "Errors per hour, by category",
            "Work-order errors ingested in each hour, per error category.",
            [
                Query(
                    f"sum by (category) (increase({ERRORS}[1h]) "
                    f"unless on (concentrator) {p.concentrator_out_of_scope()})",
                    "{{category}}",
                )
            ],
            bars=True,
            stacked=True,
            width=24,
        ),
    ]
    persistent = [
        p.table(
            "Concentrators with persistent errors",
            "Per concentrator and error category, the fewest errors seen in any 24-hour window of the "
            'last 3 days: above zero means the error came back every day (the seed\'s "if persist"). '
            "Click a row for the concentrator.",
            [],
            unit="short",
            columns={
                **p.object_columns("comuna", "concentrator", "modem"),
                "category": "Category",
                "maintenance": "Action",
            },
            values={
                "Fewest errors per day, 3 days": Query(
                    f"topk({PERSISTENT_ROWS}, {PERSISTENT}) {WITH_OBJECT}"
                ),
                "Errors, last day": Query(
                    f"({ERRORS_BY_CONCENTRATOR_1D} and on (concentrator, category, maintenance) "
                    f"topk({PERSISTENT_ROWS}, {PERSISTENT})) {WITH_OBJECT}"
                ),
            },
            column_steps={"Fewest errors per day, 3 days": p.ANY_IS_BAD},
            column_links=p.object_cell_links("comuna", "concentrator", "modem"),
            sort_by="Fewest errors per day, 3 days",
            height=10,
            links=[p.concentrator_link(from_fields=True)],
        ),
    ]
    return p.dashboard(
        KEY,
        TITLE,
        "SMMePlus work orders: results by activity and outcome, errors by category and prescribed action, "
        "concentrators whose errors persist.",
        ["workorders", "smmeplus"],
        variables,
        [("Results", results), ("Errors", errors), ("Persistent errors", persistent)],
        refresh="15m",
    )
