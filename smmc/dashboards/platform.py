"""Data platform: the Cloudera ingestion jobs and the SMMePlus integration signal."""

from __future__ import annotations

from smmc.dashboards import panels as p
from smmc.dashboards.alert_thresholds import alert_steps
from smmc.dashboards.panels import Query

KEY = "platform"
TITLE = "Data platform"

JOB = '{job=~"$cloudera_job",criticality=~"$criticality"}'
DAY = 86400
# red where SourceFileStale fires (a day plus slack), orange once a day has passed
AGE_STEPS = alert_steps("SourceFileStale", "source_max_age_seconds", warn_from=DAY)


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
            series_steps={
                "critical": ((None, "green"), (1, "red")),
                "non_critical": ((None, "green"), (1, "orange")),
            },
            width=8,
        ),
        p.stat(
            "Jobs by status",
            "Jobs per current status: ok, failed, late (deadline passed without a "
            "successful run) or unknown.",
            [Query('sum by (status) (cloudera_jobs{criticality=~"$criticality"})', "{{status}}")],
            unit="short",
            steps=p.OK_ONLY,
            width=8,
        ),
        p.stat(
            "Cloudera report",
            "Whether the last read of the daily status report succeeded.",
            [Query("min(cloudera_report_up)")],
            unit="none",
            steps=p.UP_DOWN,
            width=8,
            mappings=[p.value_text({"1": ("read", "green"), "0": ("failing", "red")})],
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
            steps=p.OK_ONLY,
            width=24,
        ),
        p.table(
            "Cloudera jobs",
            "Every job with its criticality, current status, last run, last success and today's deadline.",
            [
                Query(f"cloudera_job_status{JOB} == 1"),
                Query(f"max by (job) (cloudera_job_last_run_timestamp_seconds{JOB}) * 1000"),
                Query(f"max by (job) (cloudera_job_last_success_timestamp_seconds{JOB}) * 1000"),
                Query('max by (job) (cloudera_job_deadline_timestamp_seconds{job=~"$cloudera_job"}) * 1000'),
            ],
            unit="none",
            steps=p.OK_ONLY,
            join_by="job",
            columns={
                "job": "Job",
                "criticality": "Criticality",
                "status": "Status",
                "Value #B": "Last run",
                "Value #C": "Last success",
                "Value #D": "Deadline",
            },
            column_units={
                "Value #B": "dateTimeAsIso",
                "Value #C": "dateTimeAsIso",
                "Value #D": "dateTimeAsIso",
            },
            height=10,
        ),
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
            [Query("time() - max by (kind) (smmc_source_last_ingest_timestamp_seconds)", "{{kind}}")],
            unit="s",
            steps=AGE_STEPS,
        ),
    ]
    return p.dashboard(
        KEY,
        TITLE,
        "Cloudera ingestion jobs (successful, failed or late, with criticality and last run) and the "
        "SMMePlus integration signals.",
        ["platform", "cloudera"],
        variables,
        [("Cloudera jobs", jobs), ("SMMePlus integration", integration)],
        refresh="5m",
        time_from="now-7d",
    )
