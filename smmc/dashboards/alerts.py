"""Alerts and actions: what is firing on which maintenance rung, and what the receiver did about it."""

from __future__ import annotations

from smmc.dashboards import panels as p
from smmc.dashboards.alert_thresholds import alert_steps
from smmc.dashboards.panels import Query

KEY = "alerts"
TITLE = "Alerts and actions"

FIRING = 'ALERTS{alertstate="firing",maintenance=~"$maintenance",team=~"$team",severity=~"$severity"}'
OUTBOX_STEPS = ((None, "green"), (10, "orange"), (100, "red"))
# red where ReceiverOutboxStuck fires
OLDEST_ACTION_STEPS = alert_steps("ReceiverOutboxStuck", "receiver_outbox_max_age_seconds", warn_from=300)


def build():
    variables = [
        p.custom_variable(
            "maintenance",
            "Maintenance rung",
            ["remote", "specialist", "field", "scheduled", "outage", "platform"],
            "Rung of the escalation ladder the alert is on.",
        ),
        p.query_variable("team", "Team", "label_values(ALERTS, team)", "Team the alert is routed to."),
        p.custom_variable(
            "severity",
            "Severity",
            ["critical", "warning", "info"],
            "critical pages, warning opens a ticket, info notifies nobody.",
        ),
    ]
    alerts = [
        p.stat(
            "Firing alerts",
            "Alerts firing now (the Watchdog included: it always fires).",
            [Query(f"count({FIRING}) or on () vector(0)")],
            unit="short",
            steps=p.OK_ONLY,
            width=6,
        ),
        p.stat(
            "Firing alerts by severity",
            "Alerts firing now per severity.",
            [Query(f"count by (severity) ({FIRING})", "{{severity}}")],
            unit="short",
            steps=p.ANY_IS_WARNING,
            width=18,
        ),
        p.timeseries(
            "Firing alerts by maintenance rung",
            "Alerts firing over time per rung: remote command, specialist ticket, field crew, "
            "scheduled, outage, platform.",
            [Query(f"count by (maintenance) ({FIRING})", "{{maintenance}}")],
            unit="short",
            steps=p.OK_ONLY,
            stacked=True,
        ),
        p.bargauge(
            "Firing alerts by team",
            "Alerts firing now per team they are routed to.",
            [Query(f"sort_desc(count by (team) ({FIRING}))", "{{team}}")],
            unit="short",
            steps=p.ANY_IS_WARNING,
        ),
        p.table(
            "Firing alerts, with their labels",
            "Every firing alert with its labels. Click a row to open the dashboard of its concentrator.",
            [Query(FIRING)],
            unit="short",
            steps=p.OK_ONLY,
            columns={
                "alertname": "Alert",
                "severity": "Severity",
                "maintenance": "Rung",
                "team": "Team",
                "procedure": "Procedure",
                "concentrator": "Concentrator",
                "comuna": "Comuna",
                "modem": "Router",
                "job": "Job",
                "flag": "Flag",
            },
            height=10,
            links=[
                p.drilldown(
                    "Concentrator ${__data.fields.concentrator}",
                    "concentrators",
                    {"concentrator": "concentrator"},
                    from_fields=True,
                ),
                p.drilldown(
                    "Router ${__data.fields.modem}", "communications", {"modem": "modem"}, from_fields=True
                ),
            ],
        ),
    ]
    receiver = [
        p.timeseries(
            "Notifications received per hour",
            "Alertmanager notifications the receiver accepted per hour, by receiver and status "
            "(accepted, duplicate...).",
            [
                Query(
                    "sum by (receiver, status) (increase(smmc_receiver_notifications_total[1h]))",
                    "{{receiver}}: {{status}}",
                )
            ],
            unit="short",
            steps=p.OK_ONLY,
            interval="1h",
        ),
        p.bargauge(
            "Actions by type and result",
            "Maintenance actions the receiver dispatched in the time range, per action type (ticket, "
            "remote command, field order...) and result.",
            [
                Query(
                    "sort_desc(sum by (action, result) (increase(smmc_receiver_actions_total[$__range])))",
                    "{{action}}: {{result}}",
                )
            ],
            unit="short",
            steps=p.OK_ONLY,
        ),
        p.timeseries(
            "Actions per hour, by result",
            "Actions dispatched per hour per result.",
            [Query("sum by (result) (increase(smmc_receiver_actions_total[1h]))", "{{result}}")],
            unit="short",
            steps=p.OK_ONLY,
            interval="1h",
        ),
        p.timeseries(
            "Outbox depth",
            "Actions waiting in the receiver's outbox.",
            [Query("sum(smmc_receiver_outbox_depth)", "outbox depth")],
            unit="short",
            steps=OUTBOX_STEPS,
            width=6,
        ),
        p.stat(
            "Oldest action waiting",
            "Age of the oldest action in the outbox.",
            [Query("max(smmc_receiver_outbox_oldest_age_seconds)")],
            unit="s",
            steps=OLDEST_ACTION_STEPS,
            width=3,
        ),
        p.stat(
            "Since the last successful dispatch",
            "Time since the receiver last dispatched an action.",
            [Query("time() - max(smmc_receiver_last_dispatch_success_timestamp_seconds)")],
            unit="s",
            steps=((None, "green"), (86400, "orange")),
            width=3,
        ),
    ]
    return p.dashboard(
        KEY,
        TITLE,
        "Firing alerts by maintenance rung and team, and the receiver's actions, results and outbox.",
        ["alerts", "receiver"],
        variables,
        [("Alerts", alerts), ("Receiver actions", receiver)],
    )
