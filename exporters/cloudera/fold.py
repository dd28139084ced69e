"""Job state: what the reports said about each job, and its status at a given instant.

The tracker keeps, per job, the newest run, success and failure it has seen in any report (a report
replaced daily only shows the current day), and what the current report says. `evaluate(now)` decides
each job's status against the schedule:

- failed: the newest run of the current cycle failed (no success after it);
- ok: a success in the current cycle, or, before the cycle's deadline, a success in the previous one;
- late: the cycle's deadline passed without a success, the previous cycle ended without one, or the
  current report says "Retraso en ejecucion" and no success of this cycle is known;
- unknown: a scheduled job never seen in any report whose deadline has not passed yet, or no report
  has been read at all.

A job in the report but not in the schedule takes its status and criticality from the report and is
counted as unscheduled.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from exporters.cloudera.read import ReportRow
from exporters.cloudera.schedule import CRITICALITIES, JobSpec, Schedule

STATUSES = ("ok", "failed", "late", "unknown")


@dataclass
class JobHistory:
    criticality: str  # from the newest report that listed the job
    last_run: float | None = None
    last_success: float | None = None
    last_failure: float | None = None
    reported_status: str | None = None  # status in the current report; None when not in it
    reported_time: float | None = None  # the run time of that row


@dataclass(frozen=True)
class JobStatus:
    job: str
    criticality: str
    status: str
    scheduled: bool
    last_run: float | None
    last_success: float | None
    deadline: float | None  # the current cycle's deadline (scheduled jobs only)


def _newer(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


class JobTracker:
    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.history: dict[str, JobHistory] = {}
        self.report_seen = False

    def fold(self, rows: Iterable[ReportRow]) -> None:
        """Take a new good report: newest timestamps are kept, the report's own statuses replace the old."""
        for entry in self.history.values():
            entry.reported_status = entry.reported_time = None
        for row in rows:
            entry = self.history.get(row.job)
            if entry is None:
                entry = self.history[row.job] = JobHistory(criticality=row.criticality)
            entry.criticality = row.criticality
            entry.last_run = _newer(entry.last_run, row.run_timestamp)
            if row.run_timestamp is not None and row.status == "ok":
                entry.last_success = _newer(entry.last_success, row.run_timestamp)
            if row.run_timestamp is not None and row.status == "failed":
                entry.last_failure = _newer(entry.last_failure, row.run_timestamp)
            if _supersedes(row, entry.reported_status, entry.reported_time):
                entry.reported_status, entry.reported_time = row.status, row.run_timestamp
        self.report_seen = True

    def evaluate(self, now: float) -> list[JobStatus]:
        out: list[JobStatus] = []
        tz = self.schedule.tz
        for spec in self.schedule.jobs:
            out.append(self._scheduled_status(spec, self.history.get(spec.name), now, tz))
        for name in sorted(set(self.history) - {spec.name for spec in self.schedule.jobs}):
            entry = self.history[name]
            status = entry.reported_status if self.report_seen and entry.reported_status else "unknown"
            out.append(
                JobStatus(
                    job=name,
                    criticality=entry.criticality,
                    status=status,
                    scheduled=False,
                    last_run=entry.last_run,
                    last_success=entry.last_success,
                    deadline=None,
                )
            )
        return out

    def _scheduled_status(
        self, spec: JobSpec, entry: JobHistory | None, now: float, tz: ZoneInfo
    ) -> JobStatus:
        current, previous = spec.current_and_previous(now, tz)
        assert current is not None  # cycles_around always covers `now`
        status = self._decide(
            current.start, current.deadline, previous.start if previous else None, entry, now
        )
        return JobStatus(
            job=spec.name,
            criticality=spec.criticality,
            status=status,
            scheduled=True,
            last_run=entry.last_run if entry else None,
            last_success=entry.last_success if entry else None,
            deadline=current.deadline,
        )

    def _decide(
        self,
        start: float,
        deadline: float,
        previous_start: float | None,
        entry: JobHistory | None,
        now: float,
    ) -> str:
        if not self.report_seen:
            return "unknown"
        success = entry.last_success if entry else None
        failure = entry.last_failure if entry else None
        success_now = success is not None and success >= start
        if failure is not None and failure >= start and (success is None or failure > success):
            return "failed"
        if success_now:
            return "ok"
        if entry is not None and entry.reported_status in ("late", "failed"):
            return entry.reported_status
        if now >= deadline:
            return "late"
        # before this cycle's deadline: the previous cycle decides
        if entry is None or (success is None and failure is None):
            return "unknown"
        if (
            failure is not None
            and previous_start is not None
            and failure >= previous_start
            and (success is None or failure > success)
        ):
            return "failed"
        if success is not None and previous_start is not None and success >= previous_start:
            return "ok"
        return "late"


def _supersedes(row: ReportRow, status: str | None, when: float | None) -> bool:
    """Several rows for one job in one report: the newest run wins; between rows without a run time
    (or against one), the worse status wins."""
    if status is None:
        return True
    if row.run_timestamp is not None and when is not None:
        return row.run_timestamp > when
    rank = {"ok": 0, "late": 1, "failed": 2}
    return rank[row.status] > rank[status]


def count_by_status(statuses: Iterable[JobStatus]) -> dict[tuple[str, str], int]:
    counts = {(s, c): 0 for s in STATUSES for c in CRITICALITIES}
    for item in statuses:
        counts[(item.status, item.criticality)] += 1
    return counts


# -- the data lake's resources (Cloudera Manager) -----------------------------------------------------------
# Hosts, services and two tsqueries folded into one state; a record that cannot be read (a host without a
# name, a value that is not a number, a unit other than the one asked) is skipped and counted by kind and
# reason, the rest of the poll stands. The tsquery metric names are Cloudera Manager's own.

# ApiHealthSummary and ApiServiceState, as cm-client's models enumerate them
HEALTH = ("GOOD", "CONCERNING", "BAD", "DISABLED", "NOT_AVAILABLE", "HISTORY_NOT_AVAILABLE")
SERVICE_STATES = ("STARTED", "STARTING", "STOPPING", "STOPPED", "UNKNOWN", "HISTORY_NOT_AVAILABLE", "NA")

HOST_QUERY = "select cpu_percent, physical_memory_used, physical_memory_total where category = HOST"
HDFS_QUERY = (
    "select dfs_capacity, dfs_capacity_used, dfs_capacity_used_non_hdfs "
    "where category = SERVICE and serviceType = HDFS"
)
# metric -> (the unit numerator Cloudera Manager states for it, factor to the exported base unit)
HOST_METRICS = {
    "cpu_percent": ("percent", 0.01),
    "physical_memory_used": ("bytes", 1.0),
    "physical_memory_total": ("bytes", 1.0),
}
HDFS_METRICS = {
    "dfs_capacity": ("bytes", 1.0),
    "dfs_capacity_used": ("bytes", 1.0),
    "dfs_capacity_used_non_hdfs": ("bytes", 1.0),
}


@dataclass(frozen=True)
class Host:
    host_id: str
    hostname: str
    cluster: str
    health: str
    maintenance: bool


@dataclass(frozen=True)
class Service:
    cluster: str
    name: str
    type: str
    state: str
    health: str
    maintenance: bool


@dataclass
class Resources:
    hosts: list[Host] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    # (cluster, hostname) -> metric -> value in base units
    host_usage: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    # (cluster, service) -> metric -> bytes
    hdfs: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    newest_sample: dict[str, float] = field(default_factory=dict)  # query kind -> epoch seconds
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)


def parse_cm_time(raw: Any) -> float | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _text(raw: Any) -> str:
    return raw if isinstance(raw, str) else ""


def _enum(raw: Any, allowed: tuple[str, ...], kind: str, state: Resources) -> str:
    if isinstance(raw, str) and raw in allowed:
        return raw
    state.rejected[(kind, "invalid_value")] += 1
    return "NOT_AVAILABLE" if "NOT_AVAILABLE" in allowed else "UNKNOWN"


def _cluster_of(doc: dict[str, Any]) -> str:
    ref = doc.get("clusterRef")
    return _text(ref.get("clusterName")) if isinstance(ref, dict) else ""


def fold_hosts(docs: Iterable[Any], clusters: set[str] | None, state: Resources) -> dict[str, Host]:
    """Hosts by hostId; only the watched clusters' (and hosts in no cluster) when `clusters` is given."""
    by_id: dict[str, Host] = {}
    for doc in docs:
        if not isinstance(doc, dict) or not _text(doc.get("hostname")) or not _text(doc.get("hostId")):
            state.rejected[("host", "no_identifier")] += 1
            continue
        cluster = _cluster_of(doc)
        if clusters is not None and cluster and cluster not in clusters:
            continue
        if doc["hostId"] in by_id:
            state.rejected[("host", "duplicate")] += 1
            continue
        host = Host(
            host_id=doc["hostId"],
            hostname=doc["hostname"],
            cluster=cluster,
            health=_enum(doc.get("healthSummary"), HEALTH, "host", state),
            maintenance=doc.get("maintenanceMode") is True,
        )
        by_id[host.host_id] = host
        state.hosts.append(host)
    return by_id


def fold_services(cluster: str, docs: Iterable[Any], state: Resources) -> None:
    for doc in docs:
        if not isinstance(doc, dict) or not _text(doc.get("name")):
            state.rejected[("service", "no_identifier")] += 1
            continue
        state.services.append(
            Service(
                cluster=_cluster_of(doc) or cluster,
                name=doc["name"],
                type=_text(doc.get("type")) or "UNKNOWN",
                state=_enum(doc.get("serviceState"), SERVICE_STATES, "service", state),
                health=_enum(doc.get("healthSummary"), HEALTH, "service", state),
                maintenance=doc.get("maintenanceMode") is True,
            )
        )


def newest_point(series: dict[str, Any], kind: str, state: Resources) -> tuple[float, float] | None:
    """(timestamp, value) of the series' newest data point; None (counted) when it has no usable one."""
    data = series.get("data")
    best: tuple[float, float] | None = None
    for point in data if isinstance(data, list) else ():
        if not isinstance(point, dict):
            state.rejected[(kind, "invalid_point")] += 1
            continue
        when, value = parse_cm_time(point.get("timestamp")), point.get("value")
        if when is None or isinstance(value, bool) or not isinstance(value, int | float):
            state.rejected[(kind, "invalid_point")] += 1
            continue
        if not math.isfinite(value):
            state.rejected[(kind, "invalid_point")] += 1
            continue
        if best is None or when > best[0]:
            best = (when, float(value))
    if best is None:
        state.rejected[(kind, "no_data")] += 1
    return best


def _metric(
    series: dict[str, Any], wanted: dict[str, tuple[str, float]], kind: str, state: Resources
) -> tuple[str, dict[str, str], float, float] | None:
    """(metric, attributes, timestamp, value in base units) of one time series, or None (counted)."""
    meta = series.get("metadata")
    if not isinstance(meta, dict) or meta.get("metricName") not in wanted:
        state.rejected[(kind, "unknown_metric")] += 1
        return None
    name = meta["metricName"]
    unit, factor = wanted[name]
    numerators = meta.get("unitNumerators")
    if isinstance(numerators, list) and numerators and numerators != [unit]:
        state.rejected[(kind, "unexpected_unit")] += 1
        return None
    attributes = meta.get("attributes")
    attributes = attributes if isinstance(attributes, dict) else {}
    point = newest_point(series, kind, state)
    if point is None:
        return None
    when, value = point
    state.newest_sample[kind] = max(state.newest_sample.get(kind, when), when)
    return name, {k: v for k, v in attributes.items() if isinstance(v, str)}, when, value * factor


def fold_host_series(series_list: Iterable[Any], hosts: dict[str, Host], state: Resources) -> None:
    for series in series_list:
        found = _metric(series, HOST_METRICS, "host_timeseries", state) if isinstance(series, dict) else None
        if found is None:
            continue
        name, attributes, _when, value = found
        host = hosts.get(attributes.get("hostId", ""))
        if host is None:
            state.rejected[("host_timeseries", "unknown_host")] += 1
            continue
        state.host_usage.setdefault((host.cluster, host.hostname), {})[name] = value


def fold_hdfs_series(series_list: Iterable[Any], clusters: set[str] | None, state: Resources) -> None:
    for series in series_list:
        found = _metric(series, HDFS_METRICS, "hdfs_timeseries", state) if isinstance(series, dict) else None
        if found is None:
            continue
        name, attributes, _when, value = found
        service, cluster = attributes.get("serviceName", ""), attributes.get("clusterName", "")
        if not service:
            state.rejected[("hdfs_timeseries", "no_identifier")] += 1
            continue
        if clusters is not None and cluster not in clusters:
            continue
        state.hdfs.setdefault((cluster, service), {})[name] = value
