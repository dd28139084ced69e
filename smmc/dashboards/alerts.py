"""Alerts and actions: what is firing on which maintenance rung, and what the receiver did about it."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.models import dashboard as dashboard_model

from smmc.dashboards import panels as p
from smmc.dashboards.alert_thresholds import alert_steps, rules, rungs
from smmc.dashboards.panels import Query

KEY = "alerts"
TITLE = "Alerts and actions"

FILTERS = 'maintenance=~"$maintenance",team=~"$team",severity=~"$severity"'
# the Watchdog always fires (the dead man's switch, shown on the Overview): never counted here
FIRING = f'ALERTS{{alertstate="firing",alertname!="Watchdog",{FILTERS}}}'

OUTBOX_STEPS = p.levels(10, 100)
# red where ReceiverOutboxStuck fires
OLDEST_ACTION_STEPS = alert_steps("ReceiverOutboxStuck", "receiver_outbox_max_age_seconds", warn_from=300)


# Labels an alert can carry, shown as columns so that two alerts of one rule on two objects are two rows
# that say which object (meter, flag, category, kind of file, OpenGate rule...).
ALERT_COLUMNS = {
    "alertname": "Alert",
    "severity": "Severity",
    "maintenance": "Rung",
    "team": "Team",
    "Value": "Since",
    **p.object_columns("comuna", "concentrator", "modem"),
    "meter": "Meter",
    "flag": "Flag",
    "category": "Category",
    "kind": "File kind",
    "rule": "OpenGate rule",
    "job": "Job",
    "resourceName": "Resource",
    "procedure": "Procedure",
    "command": "Command",
}
ALERT_ROW_CAP = 200


def _am_filter() -> str:
    # {alertname="X"} URL-encoded, for Alertmanager's alert list and silence form
    return "%7Balertname%3D%22${__data.fields.alertname}%22%7D"


def firing_alerts_table(matchers: str, *, title: str = "Firing alerts, newest first", height: int = 10):
    """The firing alerts (never the Watchdog) with every object label, since when they fire (from
    ALERTS_FOR_STATE), newest first, capped, with the runbook, Alertmanager and silence links."""
    runbook_base = rules().runbook_base_url
    selector = f'alertname!="Watchdog"{"," + matchers if matchers else ""}'
    return p.table(
        title,
        f"Every firing alert except the Watchdog, the {ALERT_ROW_CAP} that started last, with the labels "
        "that name its object and since when it fires. Click the alert for its runbook, Alertmanager or a "
        "silence; the concentrator and router columns open their dashboards.",
        [
            Query(
                f"topk({ALERT_ROW_CAP}, ALERTS_FOR_STATE{{{selector}}} * 1000 "
                f'and ignoring (alertstate) ALERTS{{alertstate="firing",{selector}}})'
            )
        ],
        unit="dateTimeFromNow",
        columns=ALERT_COLUMNS,
        sort_by="Since",
        height=height,
        column_mappings={"severity": p.SEVERITY_COLOURS},
        column_links={
            "alertname": [
                ("Runbook of ${__data.fields.alertname}", f"{runbook_base}/${{__data.fields.alertname}}.md"),
                ("In Alertmanager", "${alertmanager_url}/#/alerts?filter=" + _am_filter()),
                ("Silence in Alertmanager", "${alertmanager_url}/#/silences/new?filter=" + _am_filter()),
            ],
            **p.object_cell_links("concentrator", "modem", "comuna"),
        },
    )


def build():
    variables = [
        p.alertmanager_variable(),
        p.custom_variable(
            "maintenance",
            "Maintenance rung",
            rungs(),
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
            "Firing alerts by severity",
            "Alerts firing now per severity, zeros shown. Red: a critical alert (pages); orange: a warning "
            "(opens a ticket); blue: info (notifies nobody).",
            [
                Query(
                    f'count(ALERTS{{alertstate="firing",alertname!="Watchdog",{FILTERS},severity="{sev}"}}) '
                    "or on () vector(0)",
                    sev,
                )
                for sev in ("critical", "warning", "info")
            ],
            unit="short",
            steps=p.OK_ONLY,
            series_steps=p.SEVERITY_STEPS,
            width=18,
        ),
        p.count(
            "Firing alerts",
            "Alerts firing now (the Watchdog, which always fires, left out): 0 when all is well.",
            f"count({FIRING}) or on () vector(0)",
            steps=p.any_is("orange"),
            width=6,
        ),
        p.stacked_counts(
            "Firing alerts by maintenance rung",
            "Alerts firing over time per rung: remote command, specialist ticket, field crew, "
            "scheduled, outage, platform.",
            p.by("count", ["maintenance"], FIRING),
        ),
        p.breakdown(
            "Firing alerts by team",
            "Alerts firing now per team they are routed to.",
            FIRING,
            ["team"],
            aggregation="count",
            steps=p.ANY_IS_WARNING,
        ),
        firing_alerts_table(FILTERS),
    ]
    receiver = [
        p.hourly(
            "Notifications received per hour",
            "Alertmanager notifications the receiver accepted per hour, by receiver and status "
            "(accepted, duplicate...).",
            [p.increase_by("smmc_receiver_notifications_total", ["receiver", "status"])],
        ),
        p.breakdown(
            "Actions by type and result",
            "Maintenance actions the receiver dispatched in the time range, per action type (ticket, "
            "remote command, field order...) and result.",
            "increase(smmc_receiver_actions_total[$__range])",
            ["action", "result"],
            steps=p.OK_ONLY,
        ),
        p.hourly(
            "Actions per hour, by result",
            "Actions dispatched per hour per result.",
            [p.increase_by("smmc_receiver_actions_total", ["result"])],
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
    board = p.dashboard(
        KEY,
        TITLE,
        "Firing alerts by maintenance rung and team, and the receiver's actions, results and outbox.",
        ["alerts", "receiver"],
        [*variables, receiver_url_variable()],
        [("Alerts", alerts), ("Receiver actions", receiver)],
        refresh="1m",
    )
    return board.links([*p.control_room_links(), approvals_link()])


RECEIVER_URL = "http://127.0.0.1:9820"  # compose publishes the receiver there (SMMC_BIND_ADDRESS)


def receiver_url_variable() -> dashboard_builder.TextBoxVariable:
    """Where the NOC's browser reaches the receiver; an installation sets its own in the dashboard."""
    return p.url_variable(
        "receiver_url",
        "Receiver URL",
        "Base URL of the receiver as the browser reaches it (the approvals page is under it).",
        RECEIVER_URL,
    )


def approvals_link() -> dashboard_builder.DashboardLink:
    """The receiver's approvals page: actions awaiting a human decision, and the ledger."""
    return (
        dashboard_builder.DashboardLink("Approvals (receiver)")
        .type(dashboard_model.DashboardLinkType.LINK)
        .url("${receiver_url}/ui/approvals")
        .tooltip("Approve or reject the actions that wait for a human; the audit ledger")
        .icon("external link")
        .target_blank(True)
    )
