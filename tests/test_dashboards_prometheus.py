"""Every panel query of the Control Room, run by a real Prometheus, returns data.

Prometheus scrapes a small synthetic fleet whose series follow the metric contracts (issues 3, 4, 5, the
receiver's metrics, docs/metrics.md, the recording rules as documented): this proves that the panels'
joins match (no many-to-many, the right labels), that the queries Prometheus itself accepts, and that no
panel is empty on a fleet that has data. The end-to-end test of the stack runs the same
`smmc.dashboards.panel_queries()` against the real exporters on simulated data.
"""

from __future__ import annotations

import itertools
import time

import httpx
import pytest
from e2e.harness import HarnessError, ProcessGroup, Prometheus, free_port, serve_exposition, wait_for

from smmc.dashboards import panel_queries

# no skip: a missing prometheus binary fails this test (scripts/test and .ci/run require it)

CONCENTRATORS = [
    # concentrator, comuna, latitude, longitude, modem
    ("TD-0011", "SANTIAGO", "-33.4378", "-70.6505", "MODEM-0001"),
    ("TD-47", "NUNOA", "-33.4569", "-70.5979", "MODEM-0002"),
    ("TD-27997", "LAS CONDES", "-33.4080", "-70.5670", "MODEM-0002"),
]
FLAGS = [("PUP", "normal1", "power", "info", "none"), ("CAPE", "extended1", "tamper", "critical", "field")]


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{key}="{value}"' for key, value in labels.items()) + "}"


def exposition(scrape: int) -> str:
    """The fleet at the `scrape`-th scrape: gauges fixed, counters growing."""
    lines: list[str] = []

    def add(metric: str, value: float, /, **labels: str) -> None:
        lines.append(f"{metric}{_labels(**labels) if labels else ''} {value}")

    for conc, comuna, lat, lon, modem in CONCENTRATORS:
        add(
            "smmc_concentrator_info",
            1,
            concentrator=conc,
            comuna=comuna,
            latitude=lat,
            longitude=lon,
            modem=modem,
        )
        add("smmc_concentrator_status_word", 0x08001E, concentrator=conc)
        add("smmc_concentrator_reachable", 0 if conc == "TD-47" else 1, concentrator=conc)
        add("smmc_concentrator_status_word_timestamp_seconds", 1.7e9, concentrator=conc)
        add("concentrator:smmc_meters_with_active_flag:sum", 12, concentrator=conc, comuna=comuna)
        for meters_at_td in ("false", "true"):
            add("smmc_meters", 100, comuna=comuna, measured_at_td=meters_at_td)
            add("smmc_meters_with_events", 20, comuna=comuna, measured_at_td=meters_at_td)
            add("smmc_meter_events", 55, comuna=comuna, measured_at_td=meters_at_td)
        for severity in ("critical", "info"):
            add("smmc_meters_flagged", 3, concentrator=conc, comuna=comuna, severity=severity)
        add("smmc_meters_flagged_by_category", 4, concentrator=conc, comuna=comuna, category="tamper")
        add("comuna_severity:smmc_meters_flagged:sum", 3, comuna=comuna, severity="critical")
        for flag, *_catalog in FLAGS:
            add("smmc_meters_with_active_flag", 6, concentrator=conc, comuna=comuna, flag=flag)
            add("smmc_meter_events_total", 10 * scrape, concentrator=conc, flag=flag)
            add("comuna_flag:smmc_meters_with_active_flag:sum", 6, comuna=comuna, flag=flag)
        add("smmc_concentrator_condition", 1, concentrator=conc, comuna=comuna, flag="T_Amm", priority="alta")
        add("comuna_priority:smmc_concentrator_condition:count", 1, comuna=comuna, priority="alta")
        add("concentrator:smmc_concentrator_condition:count", 1, concentrator=conc, comuna=comuna)
        add(
            "smmc_workorder_errors_total",
            3 * scrape,
            concentrator=conc,
            category="node_unreachable",
            maintenance="field",
        )
        add(
            "concentrator_category_maintenance:smmc_workorder_errors:increase1d",
            3,
            concentrator=conc,
            category="node_unreachable",
            maintenance="field",
        )
    for flag, word, category, severity, maintenance in FLAGS:
        add(
            "smmc_meter_flag_info",
            1,
            flag=flag,
            word=word,
            bit="0",
            category=category,
            severity=severity,
            maintenance=maintenance,
            per_meter="false",
        )
        add("flag:smmc_meter_events:increase1h", 30, flag=flag)
    add("flag:smmc_concentrator_condition:ratio", 1.0, flag="T_Amm")
    add(
        "smmc_concentrator_flag_info",
        1,
        flag="T_Amm",
        name="Temperature alarm",
        bit="3",
        polarity="set",
        priority="alta",
        inferred_bit="false",
    )
    add("smmc_meter_flag_active", 1, meter="UAAXXDN18204873404", concentrator="TD-0011", flag="CAPE")
    add("smmc_series_dropped_total", 0, metric="smmc_meter_flag_active")
    add("smmc_receiver_watchdog_last_seen_timestamp_seconds", time.time())
    for source, outcome in itertools.product(("hpe", "lpe", "technical"), ("ok", "error")):
        add("smmc_workorders_total", 5 * scrape, source=source, activity="reachability", outcome=outcome)
        add("source_outcome:smmc_workorders:increase1d", 5, source=source, outcome=outcome)
    add(
        "category_maintenance:smmc_workorder_errors:increase1d",
        9,
        category="node_unreachable",
        maintenance="field",
    )
    for kind in ("swe", "hpe", "csw"):
        add("smmc_source_up", 1, kind=kind)
        add("smmc_source_last_ingest_timestamp_seconds", 1.7e9, kind=kind)
        add("smmc_source_rows_total", 100 * scrape, kind=kind)
    for modem in ("MODEM-0001", "MODEM-0002"):
        add("opengate_modem_present", 1 if modem == "MODEM-0001" else 0, modem=modem)
        add("opengate_modem_presence_info", 1, modem=modem, unified_presence="IP", source="DEVICE_PING")
        add("opengate_modem_presence_timestamp_seconds", 1.7e9, modem=modem)
        add("opengate_modem_ip_presence", 1, modem=modem)
        add("opengate_modem_rtt_seconds", 0.142, modem=modem)
        add("opengate_modem_daily_sent_bytes", 1048576, modem=modem)
        add("opengate_modem_daily_received_bytes", 524288, modem=modem)
        add("opengate_modem_signal_strength_dbm", -71, modem=modem)
        add("opengate_modem_monthly_sent_bytes", 6 * 1048576, modem=modem)
        add("opengate_modem_monthly_received_bytes", 6 * 524288, modem=modem)
        add("opengate_modem_daily_sessions_started", 1, modem=modem)
        add("opengate_modem_address_info", 1, modem=modem, ip="10.117.13.188", apn="m2m.enel.cl")
        add(
            "opengate_modem_sim_state",
            1,
            modem=modem,
            state="ACTIVE" if modem == "MODEM-0001" else "SUSPENDED",
        )
        add(
            "opengate_modem_info",
            1,
            modem=modem,
            iccid="8956",
            imsi="7300",
            msisdn="569",
            admin_state="ACTIVE",
            latitude="-33.44",
            longitude="-70.65",
        )
    add("opengate_sims", 3046, state="ACTIVE", billable="true")
    add("opengate_sims", 752, state="READY", billable="false")
    add("opengate_alarms", 1, rule="maxTrafficBytesReached", severity="URGENT", status="OPEN")
    add("opengate_alarm_open", 1, modem="MODEM-0002", rule="maxTrafficBytesReached", severity="URGENT")
    add(
        "opengate_alarm_open_since_timestamp_seconds",
        1.7e9,
        modem="MODEM-0002",
        rule="maxTrafficBytesReached",
        severity="URGENT",
    )
    add("opengate_sim_alarms", 1, rule="imeiChangeDetected", severity="URGENT", status="OPEN")
    add(
        "opengate_sim_alarm_open_since_timestamp_seconds",
        1.7e9,
        sim="56958111706",
        rule="imeiChangeDetected",
        severity="URGENT",
    )
    add("rule_severity:opengate_alarm_open:count", 1, rule="maxTrafficBytesReached", severity="URGENT")
    add("opengate_up", 1)
    add("opengate_last_success_timestamp_seconds", 1.7e9)
    add("opengate_poll_duration_seconds", 0.8)
    add("opengate_requests_total", 2 * scrape, endpoint="devices", code="200")
    for job, criticality, status in (
        ("smt mother Flow", "critical", "late"),
        ("ebmer", "non_critical", "ok"),
    ):
        add("cloudera_job_status", 1, job=job, criticality=criticality, status=status)
        add("cloudera_job_last_run_timestamp_seconds", 1.7e9, job=job, criticality=criticality)
        add("cloudera_job_last_success_timestamp_seconds", 1.7e9, job=job, criticality=criticality)
        add("cloudera_job_deadline_timestamp_seconds", 1.7e9, job=job)
    # every status and criticality, zeros included, as the exporter publishes them
    for status, criticality in itertools.product(
        ("ok", "failed", "late", "unknown"), ("critical", "non_critical")
    ):
        late_or_ok = (status, criticality) in (("late", "critical"), ("ok", "non_critical"))
        add("cloudera_jobs", 1 if late_or_ok else 0, status=status, criticality=criticality)
    add("cloudera_report_up", 1)
    add("cloudera_manager_up", 1)
    for host, health in (("cdp-worker-01.enel.cl", "GOOD"), ("cdp-worker-02.enel.cl", "BAD")):
        labels = {"cluster": "datalake-chile", "host": host}
        for value in ("GOOD", "BAD"):
            add("cloudera_host_health", 1 if value == health else 0, **labels, health=value)
        add("cloudera_host_maintenance_mode", 0, **labels)
        add("cloudera_host_cpu_usage_ratio", 0.42, **labels)
        add("cloudera_host_memory_used_bytes", 2**37, **labels)
        add("cloudera_host_memory_total_bytes", 2**38, **labels)
    for service, kind, state in (("hdfs", "HDFS", "STARTED"), ("impala", "IMPALA", "STOPPED")):
        labels = {"cluster": "datalake-chile", "service": service, "type": kind}
        for value in ("STARTED", "STOPPED"):
            add("cloudera_service_state", 1 if value == state else 0, **labels, state=value)
        add("cloudera_service_health", 1, **labels, health="GOOD")
        add("cloudera_service_maintenance_mode", 0, **labels)
    add("cloudera_hdfs_capacity_bytes", 384 * 2**40, cluster="datalake-chile", service="hdfs")
    add("cloudera_hdfs_used_bytes", 240 * 2**40, cluster="datalake-chile", service="hdfs")
    add("cloudera_hdfs_non_dfs_used_bytes", 11 * 2**40, cluster="datalake-chile", service="hdfs")
    add("cloudera_report_last_success_timestamp_seconds", 1.7e9)
    add("smmc_receiver_notifications_total", scrape, receiver="actions", status="accepted")
    add("smmc_receiver_actions_total", scrape, action="jira_ticket", result="ok")
    add("smmc_receiver_outbox_depth", 0)
    add("smmc_receiver_outbox_oldest_age_seconds", 0)
    add("smmc_receiver_last_dispatch_success_timestamp_seconds", 1.7e9)
    add(
        "azurerm_resource_metric",
        4096,
        resourceName="we-eplus-sapro-integration-chile-ns",
        metric="OutgoingBytes",
        aggregation="total",
    )
    for alertname, severity, maintenance in (
        ("GridOutage", "critical", "outage"),
        ("ConcentratorUnreachable", "warning", "remote"),
    ):
        alert = {
            "alertname": alertname,
            "severity": severity,
            "maintenance": maintenance,
            "team": "noc",
            "concentrator": "TD-47",
        }
        add("ALERTS", 1, alertstate="firing", **alert)
        add("ALERTS_FOR_STATE", 1.7e9, **alert)
    add(
        "ALERTS",
        1,
        alertname="Watchdog",
        alertstate="firing",
        severity="info",
        maintenance="platform",
        team="noc",
    )
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    scrapes = itertools.count(1)
    server = serve_exposition(lambda: exposition(next(scrapes)).encode())
    group = ProcessGroup(tmp_path_factory.mktemp("dashboards-prometheus"))
    try:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {
                    "job_name": "fleet",
                    "honor_labels": True,  # cloudera_* carry their own `job` (the Cloudera job name)
                    "static_configs": [{"targets": [f"127.0.0.1:{server.server_address[1]}"]}],
                },
                # the optional Azure exporter with its compose profile off: a target nobody answers on
                {"job_name": "azure-eventhub", "static_configs": [{"targets": [f"127.0.0.1:{free_port()}"]}]},
            ],
        }
        prom = Prometheus(group, config)
        prom.wait_ready()
        # counters need two samples in a window before increase() has a value
        wait_for(
            lambda: prom.query("count_over_time(opengate_up[1m]) >= 3"), 60, "three scrapes", processes=group
        )
        yield prom
    finally:
        group.close()
        server.shutdown()
        server.server_close()


def test_every_panel_query_returns_data(prometheus):
    empty, failed = [], []
    queries = panel_queries(include_optional=True)
    for uid, title, expr in queries:
        try:
            result = prometheus.query(expr)
        except (HarnessError, ValueError, OSError, httpx.HTTPError) as exc:
            failed.append(f"{uid} / {title}: {expr}\n  {exc}")
            continue
        if not result:
            empty.append(f"{uid} / {title}: {expr}")
    assert not failed, "Prometheus rejected:\n" + "\n".join(failed)
    assert not empty, "no data:\n" + "\n".join(empty)
    assert len(queries) > 90


def _panel(uid: str, title: str) -> list[str]:
    return [expr for u, t, expr in panel_queries() if (u, t) == (uid, title)]


def _values(prometheus, expr: str, label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in prometheus.query(expr)}


def test_overview_counts_firing_alerts_per_area_rung_and_severity_without_the_watchdog(prometheus):
    # firing: GridOutage (critical, outage: meters area), ConcentratorUnreachable (warning, remote), and
    # the Watchdog (info, platform: monitoring area), which is never counted
    def tile(title: str) -> tuple[float, float]:
        critical, warning = (
            float(prometheus.query(e)[0]["value"][1]) for e in _panel("smmc-overview", title)
        )
        return critical, warning

    assert tile("Meters") == (1, 0)
    assert tile("Concentrators") == (0, 1)
    assert tile("Monitoring") == (0, 0)
    assert tile("Communications") == (0, 0)
    critical, warning, info = (
        _values(prometheus, e, "maintenance")
        for e in _panel("smmc-overview", "Firing alerts by rung and severity")
    )
    from smmc.dashboards.alert_thresholds import rungs as alert_rungs

    rungs = set(alert_rungs())
    assert {"remote", "specialist", "field", "outage", "platform"} <= rungs
    assert set(critical) == set(warning) == set(info) == rungs  # every cell, zeros included
    assert critical["outage"] == 1 and warning["remote"] == 1
    assert sum(critical.values()) + sum(warning.values()) + sum(info.values()) == 2
    (firing,) = _panel("smmc-alerts", "Firing alerts")
    assert float(prometheus.query(firing)[0]["value"][1]) == 2
    (table,) = _panel("smmc-overview", "Firing alerts, newest first")
    rows = prometheus.query(table)
    assert sorted(r["metric"]["alertname"] for r in rows) == ["ConcentratorUnreachable", "GridOutage"]
    assert all(r["metric"]["concentrator"] == "TD-47" and float(r["value"][1]) == 1.7e12 for r in rows)
    (alive,) = _panel("smmc-overview", "Alerting pipeline")
    assert float(prometheus.query(alive)[0]["value"][1]) == 1


def test_targets_up_leaves_out_the_optional_azure_exporter_that_never_answered(prometheus):
    assert prometheus.query('up{job="azure-eventhub"} == 0'), "the fixture's azure target is down"
    (expr,) = _panel("smmc-health", "Targets up")
    assert _values(prometheus, expr, "job") == {"fleet": 1}
