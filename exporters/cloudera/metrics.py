"""The Cloudera exporter's metrics: each job's status against its schedule, and the report's own health."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from exporters.cloudera.fold import HEALTH, SERVICE_STATES, STATUSES, JobStatus, Resources, count_by_status
from exporters.core.exposition import MetricFamily, counter, gauge, single
from exporters.core.poller import PollHealth


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
        status.add_state((item.job, item.criticality), STATUSES, item.status)
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


# -- the data lake's resources (Cloudera Manager) -----------------------------------------------------------


def resource_families(state: Resources) -> list[MetricFamily]:
    host_labels = ("cluster", "host")
    host_health = gauge(
        "cloudera_host_health",
        "Cloudera Manager's health summary of the host: 1 for its current value (GOOD, CONCERNING, BAD, "
        "DISABLED, NOT_AVAILABLE, HISTORY_NOT_AVAILABLE), 0 for the others.",
        (*host_labels, "health"),
    )
    host_maintenance = gauge(
        "cloudera_host_maintenance_mode",
        "1 when the host is in maintenance mode in Cloudera Manager.",
        host_labels,
    )
    for host in state.hosts:
        labels = (host.cluster, host.hostname)
        host_health.add_state(labels, HEALTH, host.health)
        host_maintenance.add(labels, 1 if host.maintenance else 0)
    cpu = gauge(
        "cloudera_host_cpu_usage_ratio",
        "CPU in use on the host, 0-1 (Cloudera Manager's cpu_percent / 100, newest sample).",
        host_labels,
    )
    mem_used = gauge(
        "cloudera_host_memory_used_bytes",
        "Physical memory in use on the host (physical_memory_used, newest sample).",
        host_labels,
    )
    mem_total = gauge(
        "cloudera_host_memory_total_bytes",
        "Physical memory of the host (physical_memory_total, newest sample).",
        host_labels,
    )
    targets = {"cpu_percent": cpu, "physical_memory_used": mem_used, "physical_memory_total": mem_total}
    for (cluster, hostname), metrics in sorted(state.host_usage.items()):
        for name, value in metrics.items():
            targets[name].add((cluster, hostname), value)

    svc_labels = ("cluster", "service", "type")
    svc_health = gauge(
        "cloudera_service_health",
        "Cloudera Manager's health summary of the service: 1 for its current value, 0 for the others.",
        (*svc_labels, "health"),
    )
    svc_state = gauge(
        "cloudera_service_state",
        "The service's state (STARTED, STOPPED, ...): 1 for its current state, 0 for the others.",
        (*svc_labels, "state"),
    )
    svc_maintenance = gauge(
        "cloudera_service_maintenance_mode",
        "1 when the service is in maintenance mode in Cloudera Manager.",
        svc_labels,
    )
    for svc in state.services:
        labels = (svc.cluster, svc.name, svc.type)
        svc_health.add_state(labels, HEALTH, svc.health)
        svc_state.add_state(labels, SERVICE_STATES, svc.state)
        svc_maintenance.add(labels, 1 if svc.maintenance else 0)

    hdfs_labels = ("cluster", "service")
    capacity = gauge(
        "cloudera_hdfs_capacity_bytes", "Configured HDFS capacity of the service (dfs_capacity).", hdfs_labels
    )
    used = gauge("cloudera_hdfs_used_bytes", "HDFS bytes in use (dfs_capacity_used).", hdfs_labels)
    non_dfs = gauge(
        "cloudera_hdfs_non_dfs_used_bytes",
        "Bytes used on the DataNodes' volumes by other than HDFS (dfs_capacity_used_non_hdfs).",
        hdfs_labels,
    )
    hdfs_targets = {
        "dfs_capacity": capacity,
        "dfs_capacity_used": used,
        "dfs_capacity_used_non_hdfs": non_dfs,
    }
    for key, metrics in sorted(state.hdfs.items()):
        for name, value in metrics.items():
            hdfs_targets[name].add(key, value)

    newest = gauge(
        "cloudera_manager_newest_sample_timestamp_seconds",
        "Timestamp of the newest time-series point of each query (host, hdfs) in the last good poll.",
        ("query",),
    )
    for kind, when in sorted(state.newest_sample.items()):
        newest.add((kind.removesuffix("_timeseries"),), when)
    rejected = gauge(
        "cloudera_manager_records_rejected",
        "Records of the last good poll skipped, by kind and reason.",
        ("kind", "reason"),
    )
    rejected.add_many(sorted(state.rejected.items()))
    return [
        host_health,
        host_maintenance,
        cpu,
        mem_used,
        mem_total,
        svc_health,
        svc_state,
        svc_maintenance,
        capacity,
        used,
        non_dfs,
        newest,
        rejected,
    ]


FAILURE_REASONS = ("timeout", "transport", "http_401", "http_403", "http_500", "malformed_json")


def manager_health_families(health: PollHealth) -> list[MetricFamily]:
    up = gauge("cloudera_manager_up", "1 when the last poll of the Cloudera Manager API succeeded, else 0.")
    up.add((), health.up)
    last = gauge(
        "cloudera_manager_last_success_timestamp_seconds",
        "When the last successful poll of Cloudera Manager finished; the resource metrics are from it.",
    )
    if health.last_success is not None:
        last.add((), health.last_success)
    duration = gauge(
        "cloudera_manager_poll_duration_seconds", "Wall time of the last Cloudera Manager poll, good or bad."
    )
    if health.poll_duration is not None:
        duration.add((), health.poll_duration)
    polls = counter("cloudera_manager_polls_total", "Cloudera Manager poll cycles started.")
    polls.add((), health.polls)
    requests = counter(
        "cloudera_manager_requests_total",
        "HTTP responses from the Cloudera Manager API by endpoint and status code.",
        ("endpoint", "code"),
    )
    requests.add_many(((endpoint, code), n) for (endpoint, code), n in sorted(health.requests.items()))
    failures = counter(
        "cloudera_manager_poll_failures_total",
        "Failed Cloudera Manager poll cycles by reason (timeout, transport, http_401, http_500, "
        "malformed_json, ...).",
        ("reason",),
    )
    failures.add_many(((reason,), n) for reason, n in sorted(health.failures.items()))
    return [up, last, duration, polls, requests, failures]
