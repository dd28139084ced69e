"""Monitoring health: whether the monitoring itself works (targets, sources, rejected input)."""

from __future__ import annotations

from smmc.dashboards import freshness
from smmc.dashboards import panels as p
from smmc.dashboards.alert_thresholds import rules
from smmc.dashboards.panels import Query

KEY = "health"
TITLE = "Monitoring health"

# The optional Azure metrics exporter (compose profile `azure`) is a scrape target that is down wherever
# the profile is off: shown only once it has answered within the memory AzureMetricsExporterDown uses.
_PARAMS = rules().params
OPTIONAL_JOB = _PARAMS["eventhub_job"]
NEVER_ANSWERED = (
    f'(max by (job) (max_over_time(up{{job="{OPTIONAL_JOB}"}}[{_PARAMS["azure_exporter_memory"]}])) == 0)'
)
# (title, description, age) of each source's data
SOURCE_AGES = (
    (
        "SMMePlus: age of the newest ingest, by file kind",
        "Time since a file of each kind was last ingested; the files are daily.",
        freshness.FILE_AGE,
        freshness.FILE_AGE_STEPS,
    ),
    (
        "OpenGate: time since the last successful poll",
        "Time since the OpenGate exporter last completed a poll of the North API.",
        Query("time() - opengate_last_success_timestamp_seconds", "opengate"),
        freshness.POLL_AGE_STEPS,
    ),
    (
        "Cloudera: age of the last good report",
        "Time since the Cloudera exporter last read the job status report successfully.",
        Query("time() - cloudera_report_last_success_timestamp_seconds", "cloudera report"),
        freshness.REPORT_AGE_STEPS,
    ),
)


def _per_target(title: str, description: str, metric: str, **options):
    """A series per scrape target (of the selected jobs) of one of Prometheus' own scrape metrics."""
    return p.timeseries(
        title, description, [Query(f'{metric}{{job=~"$job"}}', "{{job}} {{instance}}")], **options
    )


def build():
    variables = [
        p.query_variable("job", "Scrape job", "label_values(up, job)", "Prometheus scrape job."),
    ]
    targets = [
        p.up_stat(
            "Targets up",
            "Every scrape target: UP when Prometheus' last scrape succeeded. The optional Azure metrics "
            f"exporter ({OPTIONAL_JOB}) is listed once it has answered (not where its profile is off).",
            [Query(f'min by (job) (up{{job=~"$job"}}) unless on (job) {NEVER_ANSWERED}', "{{job}}")],
            width=12,
        ),
        p.up_stat(
            "Sources up",
            "Each exporter's view of its own source: the SMMePlus file kinds, the OpenGate "
            "API, the Cloudera report.",
            [
                Query("min by (kind) (smmc_source_up)", "smmeplus {{kind}}"),
                Query("min(opengate_up)", "opengate api"),
                Query("min(cloudera_report_up)", "cloudera report"),
            ],
            width=12,
        ),
        _per_target(
            "Scrape duration",
            "How long each target takes to scrape.",
            "scrape_duration_seconds",
            unit="s",
            steps=p.levels(1, 5),
        ),
        _per_target(
            "Samples per scrape",
            "Series each target exposes: a jump means a label blew up.",
            "scrape_samples_scraped",
            unit="short",
        ),
    ]
    ingest = [
        *(
            p.timeseries(title, description, [age], unit="s", steps=steps, width=8)
            for title, description, age, steps in SOURCE_AGES
        ),
        p.hourly(
            "Rows ingested per hour",
            "SMMePlus rows ingested per hour, by file kind.",
            [p.increase_by("smmc_source_rows_total", ["kind"])],
        ),
        p.hourly(
            "Rows rejected per hour, by reason",
            "Malformed rows skipped per hour, by source and reason (0 when nothing was rejected).",
            [
                Query(
                    "sum by (kind, reason) (increase(smmc_source_rows_rejected_total[1h])) "
                    "or on (kind) label_replace(0 * sum by (kind) (smmc_source_rows_total), "
                    '"reason", "none", "", "")',
                    "{{kind}}: {{reason}}",
                ),
                Query(
                    "sum by (reason) (increase(cloudera_report_rows_rejected_total[1h])) "
                    'or on () label_replace(0 * min(cloudera_report_up), "reason", "none", "", "")',
                    "cloudera: {{reason}}",
                ),
            ],
            steps=p.ANY_IS_WARNING,
        ),
        p.hourly(
            "Files rejected per hour",
            "SMMePlus files set aside in rejected/ per hour, by kind (0 when none).",
            [
                Query(
                    "sum by (kind) (increase(smmc_source_files_rejected_total[1h])) "
                    "or on (kind) 0 * sum by (kind) (smmc_source_rows_total)",
                    "{{kind}}",
                )
            ],
            steps=p.ANY_IS_BAD,
        ),
        p.hourly(
            "OpenGate requests per hour, by endpoint and code",
            "North API requests per hour; 401/403, 429 and 5xx codes show the API's trouble.",
            [
                Query(
                    "sum by (endpoint, code) (increase(opengate_requests_total[1h]))", "{{endpoint}} {{code}}"
                )
            ],
        ),
        p.timeseries(
            "OpenGate poll duration",
            "Duration of the last complete poll cycle of the North API.",
            [Query("max(opengate_poll_duration_seconds)", "poll duration")],
            unit="s",
            steps=p.levels(10, 30),
        ),
        p.hourly(
            "Per-meter series dropped by the cap, per hour",
            "Series the SMMePlus exporter left out per hour because the per-meter series limit was "
            "reached (0 when none): raise --per-meter-series-limit or expect meter alerts to miss meters.",
            [
                Query(
                    "sum by (metric) (increase(smmc_series_dropped_total[1h])) or on () "
                    'label_replace(vector(0), "metric", "none", "", "")',
                    "{{metric}}",
                )
            ],
            steps=p.ANY_IS_WARNING,
        ),
    ]
    return p.dashboard(
        KEY,
        TITLE,
        "The monitoring's own health: scrape targets, each source's freshness, rejected input, scrape cost.",
        ["health", "monitoring"],
        variables,
        [("Targets", targets), ("Sources and input", ingest)],
        refresh="1m",
        time_from="now-2d",
    )
