"""The Cloudera exporter's metrics: each job's status against its schedule, and the report's own health."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from exporters.cloudera.fold import STATUSES, JobStatus, count_by_status
from exporters.core.exposition import MetricFamily, counter, gauge, single


class ReportHealth(Protocol):
    """How the reading of the report goes (the exporter keeps it)."""

    up: bool
    last_success: float | None
    last_change: float | None
    report_rows: int
    rows_rejected: Mapping[str, int]
    failures: Mapping[str, int]


def families(statuses: Sequence[JobStatus], scheduled_jobs: int, report: ReportHealth) -> list[MetricFamily]:
    last_run = gauge(
        "cloudera_job_last_run_timestamp_seconds",
        "Start time of the job's newest run seen in any report (any outcome).",
        ("job", "criticality"),
    )
    last_success = gauge(
        "cloudera_job_last_success_timestamp_seconds",
        "Start time of the job's newest successful run seen in any report.",
        ("job", "criticality"),
    )
    deadline = gauge(
        "cloudera_job_deadline_timestamp_seconds",
        "Deadline of the job's current cycle (from the schedule, local time America/Santiago).",
        ("job",),
    )
    status = gauge(
        "cloudera_job_status",
        "1 for the job's current status (ok, failed, late, unknown), 0 for the others.",
        ("job", "criticality", "status"),
    )
    for item in statuses:
        if item.last_run is not None:
            last_run.add((item.job, item.criticality), item.last_run)
        if item.last_success is not None:
            last_success.add((item.job, item.criticality), item.last_success)
        if item.deadline is not None:
            deadline.add((item.job,), item.deadline)
        for value in STATUSES:
            status.add((item.job, item.criticality, value), 1 if item.status == value else 0)
    jobs = gauge("cloudera_jobs", "Jobs by current status and criticality.", ("status", "criticality"))
    for (value, criticality), n in count_by_status(statuses).items():
        jobs.add((value, criticality), n)
    unscheduled = gauge("cloudera_jobs_unscheduled", "Jobs in the report that the schedule does not list.")
    unscheduled.add((), sum(1 for item in statuses if not item.scheduled))
    scheduled = gauge("cloudera_schedule_jobs", "Jobs listed in the schedule.")
    scheduled.add((), scheduled_jobs)

    up = single(
        gauge("cloudera_report_up", "1 when the last attempt to read the report gave a usable report."),
        1 if report.up else 0,
    )
    last_ok = single(
        gauge(
            "cloudera_report_last_success_timestamp_seconds",
            "When the report was last read successfully (changed or not).",
        ),
        report.last_success,
    )
    changed = single(
        gauge("cloudera_report_last_change_timestamp_seconds", "When a new good report was last taken."),
        report.last_change,
    )
    rows = single(gauge("cloudera_report_rows", "Rows accepted from the current report."), report.report_rows)
    rejected = counter("cloudera_report_rows_rejected_total", "Report rows rejected, by reason.", ("reason",))
    rejected.add_many(((reason,), n) for reason, n in sorted(report.rows_rejected.items()))
    failures = counter(
        "cloudera_report_failures_total",
        "Reports that could not be fetched or used at all, by reason (the last good one keeps serving).",
        ("reason",),
    )
    failures.add_many(((reason,), n) for reason, n in sorted(report.failures.items()))
    return [
        last_run,
        last_success,
        deadline,
        status,
        jobs,
        unscheduled,
        scheduled,
        up,
        last_ok,
        changed,
        rows,
        rejected,
        failures,
    ]
