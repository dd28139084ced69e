"""Data platform: the Cloudera ingestion jobs, the data lake's resources (Cloudera Manager) and the
SMMePlus integration signal."""

from __future__ import annotations

from smmc.dashboards import freshness
from smmc.dashboards import panels as p
from smmc.dashboards.alert_thresholds import alert_param, alert_steps
from smmc.dashboards.panels import Query

KEY = "platform"
TITLE = "Data platform"

JOB = '{job=~"$cloudera_job",criticality=~"$criticality"}'
# the seed's report reads failures first: a failed job red, a late one orange, never green
STATUS_COLOURS = {"failed": "red", "late": "orange", "unknown": "purple", "ok": "green"}
STATUS_STEPS = {
    status: p.any_is(colour) if status != "ok" else ((None, "text"), (1, "green"))
    for status, colour in STATUS_COLOURS.items()
}
STATUS_TEXT = p.coloured(STATUS_COLOURS)
# red where ClouderaStorageFilling fires, orange ten points before
STORAGE_STEPS = alert_steps(
    "ClouderaStorageFilling",
    "cloudera_storage_max_ratio",
    warn_from=alert_param("ClouderaStorageFilling", "cloudera_storage_max_ratio") - 0.1,
)
HEALTH_TEXT = p.coloured(
    {
        "GOOD": "green",
        "CONCERNING": "orange",
        "BAD": "red",
        "DISABLED": "text",
        **dict.fromkeys(("NOT_AVAILABLE", "HISTORY_NOT_AVAILABLE"), "purple"),
    }
)
STATE_TEXT = p.coloured(
    {
        "STARTED": "green",
        "STOPPED": "red",
        **dict.fromkeys(("STARTING", "STOPPING", "UNKNOWN", "HISTORY_NOT_AVAILABLE", "NA"), "orange"),
    }
)
STORAGE_USED = "(cloudera_hdfs_used_bytes + cloudera_hdfs_non_dfs_used_bytes) / cloudera_hdfs_capacity_bytes"
MEMORY_USED = "cloudera_host_memory_used_bytes / cloudera_host_memory_total_bytes"
SERVICE_DOWN = 'cloudera_service_state{state="STOPPED"} or cloudera_service_health{health="BAD"}'
MAINTENANCE_MODE_TEXT = p.one_zero("yes", "no", ("blue", "text"))


def _read_or_failing(title: str, description: str, up_metric: str, *, width: int):
    """Whether the Cloudera exporter's last read of a source (its `up_metric`) succeeded."""
    return p.up_stat(title, description, [Query(f"min({up_metric})")], up="read", down="failing", width=width)


def build():
    variables = [
        p.query_variable(
            "cloudera_job",
            "Cloudera job",
            "label_values(cloudera_job_status, job)",
            "Cloudera ingestion job (proceso).",
        ),
        p.query_variable(
            "criticality",
            "Criticality",
            "label_values(cloudera_job_status, criticality)",
            "Criticality of the job (critical or not).",
        ),
    ]
    jobs = [
        p.stat(
            "Jobs failed or late, by criticality",
            "Jobs whose current status is failed or late. A critical one is a platform maintenance case.",
            [
                Query(
                    'sum by (criticality) (cloudera_jobs{status=~"failed|late",criticality=~"$criticality"})',
                    "{{criticality}}",
                )
            ],
            unit="short",
            steps=p.OK_ONLY,
            # a critical job failed or late pages (CriticalDataJobFailed/Late); another one opens a ticket
            series_steps={"critical": p.ANY_IS_BAD, "non_critical": p.any_is("orange")},
            width=8,
        ),
        p.stat(
            "Jobs by status",
            'Jobs per current status, failures first as in the seed\'s report ("Procesos con Fallos" above '
            '"Procesos con Éxito"): failed (red from 1), late: deadline passed without a successful run '
            "(orange), unknown (purple), ok (green).",
            [
                Query(f'sum(cloudera_jobs{{status="{status}",criticality=~"$criticality"}})', status)
                for status in STATUS_COLOURS
            ],
            unit="short",
            steps=p.OK_ONLY,
            series_steps=STATUS_STEPS,
            width=8,
        ),
        _read_or_failing(
            "Cloudera report",
            "Whether the last read of the daily status report succeeded.",
            "cloudera_report_up",
            width=8,
        ),
        p.timeseries(
            "Jobs failed or late over time",
            "Jobs per status and criticality, excluding the ones that are ok.",
            [
                Query(
                    'sum by (status, criticality) (cloudera_jobs{status!="ok",criticality=~"$criticality"})',
                    "{{status}} ({{criticality}})",
                )
            ],
            unit="short",
            width=24,
        ),
        *job_tables(),
    ]
    integration = [
        p.timeseries(
            "SMMePlus integration: Event Hub outgoing bytes",
            "Bytes the SMMePlus integration Event Hub namespace sent out per timegrain "
            "(azure-metrics-exporter, optional service). The seed's Azure Monitor rule alerts when it "
            "stays at 0 for 6 hours.",
            [
                Query(
                    'sum(azurerm_resource_metric{resourceName="we-eplus-sapro-integration-chile-ns",'
                    'metric="OutgoingBytes",aggregation="total"})',
                    "outgoing bytes",
                )
            ],
            unit="bytes",
            steps=((None, "red"), (1, "green")),
        ),
        p.timeseries(
            "SMMePlus files: age of the newest ingest",
            "Time since the SMMePlus exporter last ingested a file of each kind (SWE, HPE, LPE, "
            "CSW...): the daily file integration.",
            [freshness.FILE_AGE],
            unit="s",
            steps=freshness.FILE_AGE_STEPS,
        ),
    ]
    return p.dashboard(
        KEY,
        TITLE,
        "Cloudera ingestion jobs (failed or late first, then the successful ones, with criticality and last "
        "run), the data lake's resources from Cloudera Manager (storage, CPU, memory, host and service "
        "health) and the SMMePlus integration signals.",
        ["platform", "cloudera"],
        variables,
        [
            ("Cloudera jobs", jobs),
            ("Data lake resources", resource_panels()),
            ("SMMePlus integration", integration),
        ],
        refresh="1m",
        time_from="now-7d",
    )


def _job_table(title: str, description: str, statuses: str, sort_column: str, descending: bool):
    selector = f'{{job=~"$cloudera_job",criticality=~"$criticality",status=~"{statuses}"}}'
    job = 'job=~"$cloudera_job",criticality=~"$criticality"'
    return p.table(
        title,
        description,
        [Query(f"cloudera_job_status{selector} == 1")],
        columns={"job": "Job", "criticality": "Criticality", "status": "Status"},
        values={
            "Last run": Query(f"max by (job) (cloudera_job_last_run_timestamp_seconds{{{job}}}) * 1000"),
            "Last success": Query(
                f"max by (job) (cloudera_job_last_success_timestamp_seconds{{{job}}}) * 1000"
            ),
            "Deadline": Query(
                'max by (job) (cloudera_job_deadline_timestamp_seconds{job=~"$cloudera_job"}) * 1000'
            ),
        },
        join_by="job",
        column_units=dict.fromkeys(("Last run", "Last success", "Deadline"), "dateTimeAsIso"),
        column_mappings={"status": STATUS_TEXT},
        extra=[{"id": "filterByValue", "options": _non_empty("status")}],
        sort_by=sort_column,
        sort_ascending=not descending,
        height=8,
    )


def _non_empty(field: str) -> dict:
    """Keep only the rows where `field` has a value: the outer join brings in every job's timestamps."""
    return {
        "filters": [{"fieldName": field, "config": {"id": "isNotNull", "options": {}}}],
        "type": "include",
        "match": "all",
    }


def job_tables() -> list:
    """The seed's two lists, failures first; critical failures at the top."""
    return [
        _job_table(
            "Procesos con Fallos: failed or late jobs",
            "Jobs whose current status is failed, late (deadline passed without a successful run, or "
            '"Retraso en ejecucion") or unknown, critical ones first. A critical one is a ticket to the '
            "data-platform support.",
            "failed|late|unknown",
            "Criticality",
            False,
        ),
        _job_table(
            "Procesos con Éxito: jobs ok",
            "Jobs whose current cycle ran successfully, newest run first.",
            "ok",
            "Last run",
            True,
        ),
    ]


def resource_panels() -> list:
    """The data lake's resources as Cloudera Manager reports them (the exporter's --cm-url)."""
    return [
        p.stat(
            "HDFS storage used",
            "HDFS data plus other data on the DataNodes' volumes over the configured HDFS capacity, per "
            "cluster; red where ClouderaStorageFilling fires.",
            [p.by("max", ["cluster"], STORAGE_USED)],
            unit="percentunit",
            steps=STORAGE_STEPS,
            width=6,
        ),
        p.count(
            "Hosts in BAD health",
            "Data-lake hosts Cloudera Manager rates BAD (ClouderaHostBadHealth after 15 minutes).",
            'sum(cloudera_host_health{health="BAD"})',
            steps=p.ANY_IS_BAD,
            width=6,
        ),
        p.count(
            "Services down",
            "Data-lake services stopped or in BAD health (ClouderaServiceDown after 10 minutes).",
            f"sum(max by (cluster, service) ({SERVICE_DOWN}))",
            steps=p.ANY_IS_BAD,
            width=6,
        ),
        _read_or_failing(
            "Cloudera Manager",
            "Whether the last poll of Cloudera Manager's REST API succeeded (the resource panels show its "
            "last good data otherwise).",
            "cloudera_manager_up",
            width=6,
        ),
        p.timeseries(
            "HDFS storage",
            "Configured HDFS capacity, bytes used by HDFS and by other data on the DataNodes' volumes.",
            [
                Query("sum by (cluster) (cloudera_hdfs_capacity_bytes)", "capacity ({{cluster}})"),
                Query("sum by (cluster) (cloudera_hdfs_used_bytes)", "HDFS used ({{cluster}})"),
                Query("sum by (cluster) (cloudera_hdfs_non_dfs_used_bytes)", "non-HDFS used ({{cluster}})"),
            ],
            unit="bytes",
            width=8,
        ),
        p.timeseries(
            "CPU by host",
            "CPU in use on each data-lake host (Cloudera Manager's cpu_percent); the night's ingestion "
            "shows on the workers.",
            [Query("cloudera_host_cpu_usage_ratio", "{{host}}")],
            unit="percentunit",
            steps=p.levels(0.8, 0.95),
            width=8,
        ),
        p.timeseries(
            "Memory by host",
            "Physical memory in use over the host's memory.",
            [Query(MEMORY_USED, "{{host}}")],
            unit="percentunit",
            steps=p.levels(0.85, 0.95),
            width=8,
        ),
        p.table(
            "Data lake hosts",
            "Every host with Cloudera Manager's health, maintenance mode, CPU and memory; worst "
            "health first.",
            [Query("cloudera_host_health == 1")],
            columns={"host": "Host", "cluster": "Cluster", "health": "Health"},
            values={
                "CPU": Query("max by (host) (cloudera_host_cpu_usage_ratio)"),
                "Memory used": Query(f"max by (host) ({MEMORY_USED})"),
                "Memory": Query("max by (host) (cloudera_host_memory_total_bytes)"),
                "Maintenance": Query("max by (host) (cloudera_host_maintenance_mode)"),
            },
            join_by="host",
            column_units={"CPU": "percentunit", "Memory used": "percentunit", "Memory": "bytes"},
            column_mappings={"health": HEALTH_TEXT, "Maintenance": MAINTENANCE_MODE_TEXT},
            sort_by="Health",
            sort_ascending=True,
            width=12,
            height=9,
        ),
        p.table(
            "Data lake services",
            "Every service with its state, health and maintenance mode (stopped or BAD: "
            "ClouderaServiceDown).",
            [
                Query("cloudera_service_state == 1"),
                Query("max by (service, health) (cloudera_service_health == 1)"),
            ],
            columns={
                "service": "Service",
                "type": "Type",
                "cluster": "Cluster",
                "state": "State",
                "health": "Health",
            },
            values={"Maintenance": Query("max by (service) (cloudera_service_maintenance_mode)")},
            join_by="service",
            column_mappings={
                "state": STATE_TEXT,
                "health": HEALTH_TEXT,
                "Maintenance": MAINTENANCE_MODE_TEXT,
            },
            sort_by="State",
            width=12,
            height=9,
        ),
    ]
