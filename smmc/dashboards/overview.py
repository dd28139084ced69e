"""Overview: the NOC's home page. One glance: is anything to act on, where, on which rung, how fresh is
the data, and is the alerting pipeline itself alive. Each area tile opens its dashboard.

The areas are the rule groups of rules/thresholds.yml (the alerts each group defines), so a new alert is
counted on its area's tile when the dashboards are regenerated.
"""

from __future__ import annotations

from smmc.dashboards import freshness
from smmc.dashboards import panels as p
from smmc.dashboards.alert_thresholds import alert_param, rules, rungs
from smmc.dashboards.alerts import firing_alerts_table
from smmc.dashboards.panels import Query

KEY = "overview"
TITLE = "Overview"

# (tile title, dashboard it opens, rule groups of rules/thresholds.yml)
AREAS = (
    ("Meters", "meters", ("meters", "power")),
    ("Concentrators", "concentrators", ("concentrators",)),
    ("Communications", "communications", ("communications",)),
    ("Work orders", "workorders", ("workorders",)),
    ("Data platform", "platform", ("dataplatform",)),
    ("Monitoring", "health", ("monitoring",)),
)
# the dead man's switch: always firing, so never counted as something to act on
WATCHDOG = "Watchdog"
SEVERITIES = ("critical", "warning", "info")
FIRING = 'ALERTS{alertstate="firing",alertname!="Watchdog"'


def area_alerts(groups: tuple[str, ...]) -> list[str]:
    return sorted(a.name for a in rules().alerts if a.group in groups and a.name != WATCHDOG)


def _count(matchers: str) -> str:
    return f"count({FIRING},{matchers}}}) or on () vector(0)"


def _area_tile(title: str, key: str, groups: tuple[str, ...]):
    names = "|".join(area_alerts(groups))
    return p.stat(
        title,
        f"Firing alerts of the {title.lower()} rules ({', '.join(groups)} groups of rules/thresholds.yml), "
        "critical and warning, zeros shown. Red: at least one critical alert (act now). Click for the "
        f"{title} dashboard.",
        [
            Query(_count(f'severity="critical",alertname=~"{names}"'), "critical"),
            Query(_count(f'severity="warning",alertname=~"{names}"'), "warning"),
        ],
        unit="short",
        steps=p.OK_ONLY,
        series_steps={severity: p.SEVERITY_STEPS[severity] for severity in ("critical", "warning")},
        width=4,
        height=5,
        graph=False,
        links=[p.dashboard_link(f"{title} dashboard", key)],
    )


def _rung_zeros() -> str:
    return " or ".join(f'label_replace(vector(0), "maintenance", "{r}", "", "")' for r in rungs())


def _rung_grid():
    queries = [
        Query(
            f'count by (maintenance) ({FIRING},severity="{severity}"}}) or on (maintenance) ({_rung_zeros()})'
        )
        for severity in SEVERITIES
    ]
    ref = {severity: p.value_field(index, len(SEVERITIES)) for index, severity in enumerate(SEVERITIES)}
    return p.table(
        "Firing alerts by rung and severity",
        "Firing alerts (never the Watchdog) per rung of the maintenance ladder (remote command, specialist "
        "ticket, field crew, scheduled, outage, platform) and severity. Red: a critical alert on that rung. "
        "Click a row for the Alerts dashboard on that rung.",
        queries,
        unit="short",
        join_by="maintenance",
        columns={"maintenance": "Rung", **{ref[s]: s.capitalize() for s in SEVERITIES}},
        column_steps={ref[severity]: p.SEVERITY_STEPS[severity] for severity in SEVERITIES},
        width=10,
        height=8,
        links=[
            p.drilldown(
                "Alerts on rung ${__data.fields.maintenance}",
                "alerts",
                {"maintenance": "maintenance"},
                from_fields=True,
            )
        ],
    )


def _pipeline_alive():
    silence = alert_param("ReceiverWatchdogMissing", "watchdog_max_silence_seconds")
    return p.up_stat(
        "Alerting pipeline",
        "ALIVE when the Watchdog fires in Prometheus and the receiver saw its notification (through "
        f"Alertmanager) in the last {silence:.0f} s: the path by which every other alert reaches an action. "
        "DEAD: nothing on this page can be trusted to notify anyone.",
        [
            Query(
                f'(count(ALERTS{{alertname="{WATCHDOG}",alertstate="firing"}}) > bool 0) '
                "* on () (time() - max(smmc_receiver_watchdog_last_seen_timestamp_seconds) "
                f"< bool {silence:.0f})"
                " or on () vector(0)"
            )
        ],
        up="ALIVE",
        down="DEAD",
        width=4,
        height=8,
        graph=False,
    )


def _data_age():
    daily = "|".join(rules().params["daily_source_kinds"])
    return p.stat(
        "Data as of",
        "Age of the newest data of each source: the stalest of the daily SMMePlus files "
        f"({daily.replace('|', ', ')}), the last OpenGate poll, the last Cloudera report. Red where the "
        "source's alert fires.",
        [
            Query(
                f'time() - min(max by (kind) (smmc_source_last_ingest_timestamp_seconds{{kind=~"{daily}"}}))',
                "SMMePlus files",
            ),
            Query("time() - max(opengate_last_success_timestamp_seconds)", "OpenGate"),
            Query("time() - max(cloudera_report_last_success_timestamp_seconds)", "Cloudera report"),
        ],
        unit="s",
        steps=p.OK_ONLY,
        series_steps={
            "SMMePlus files": freshness.FILE_AGE_STEPS,
            "OpenGate": freshness.POLL_AGE_STEPS,
            "Cloudera report": freshness.REPORT_AGE_STEPS,
        },
        width=10,
        height=8,
        graph=False,
    )


def build():
    tiles = [_area_tile(title, key, groups) for title, key, groups in AREAS]
    now = [_rung_grid(), _pipeline_alive(), _data_age()]
    return p.dashboard(
        KEY,
        TITLE,
        "The NOC's home: firing alerts per area (red means a critical alert: act), per rung and severity, "
        "the age of each source's data and whether the alerting pipeline is alive.",
        ["overview"],
        [p.alertmanager_variable()],
        [("Areas", tiles), ("Rungs, freshness, pipeline", now), ("Firing alerts", [firing_alerts_table("")])],
        refresh="1m",
        time_from="now-6h",
    )
