"""The data lake's resources from Cloudera Manager: host and service health, CPU, memory and HDFS storage.

One `poll()` per interval (run by `exporters.core.poller.Poller`): the clusters, each cluster's services,
the hosts, and two tsqueries on the time-series endpoint (host CPU and memory; HDFS capacity), folded
into metric families. The resource part of the exposition is replaced only when every call succeeded, so
between failures Prometheus keeps reading the last good data (its age in
`cloudera_manager_last_success_timestamp_seconds`) while `cloudera_manager_up` drops to 0. A record that
cannot be read (a host without a name, a value that is not a number, a unit other than the one asked) is
skipped and counted in `cloudera_manager_records_rejected{kind,reason}`; the rest of the poll stands.

The tsquery metric names are Cloudera Manager's own (docs/cloudera.md lists them with their source).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from exporters.cloudera.manager import ManagerClient
from exporters.core.exposition import Exposition, MetricFamily, counter, gauge
from exporters.core.poller import FetchError

DATA_PART = "cloudera_resources_1"
HEALTH_PART = "cloudera_resources_0_health"

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


def parse_time(raw: Any) -> float | None:
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
        when, value = parse_time(point.get("timestamp")), point.get("value")
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


def data_families(state: Resources) -> list[MetricFamily]:
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
        for health in HEALTH:
            host_health.add((*labels, health), 1 if host.health == health else 0)
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
        for health in HEALTH:
            svc_health.add((*labels, health), 1 if svc.health == health else 0)
        for value in SERVICE_STATES:
            svc_state.add((*labels, value), 1 if svc.state == value else 0)
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
    for (kind, reason), n in sorted(state.rejected.items()):
        rejected.add((kind, reason), n)
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


@dataclass
class Health:
    up: int = 0
    last_success: float | None = None
    poll_duration: float | None = None
    polls: int = 0
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)


FAILURE_REASONS = ("timeout", "transport", "http_401", "http_403", "http_500", "malformed_json")


def health_families(health: Health) -> list[MetricFamily]:
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


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class ResourceCollector:
    """Polls Cloudera Manager and publishes the resource metrics into `exposition`."""

    def __init__(
        self,
        client: ManagerClient,
        exposition: Exposition,
        *,
        clusters: Iterable[str] = (),
        window: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.exposition = exposition
        self.clusters = set(clusters) or None
        self.window = window
        self.clock = clock
        self.health = Health(failures=Counter(dict.fromkeys(FAILURE_REASONS, 0)))
        self.last_state: Resources | None = None
        self._lock = threading.Lock()
        if client.on_response is None:
            client.on_response = self.count_response
        self.publish_health()

    def count_response(self, endpoint: str, response: httpx.Response) -> None:
        with self._lock:
            self.health.requests[(endpoint, str(response.status_code))] += 1

    def collect(self) -> Resources:
        state = Resources()
        listed = [c.get("name") for c in self.client.clusters()]
        names = [n for n in listed if isinstance(n, str) and n]
        state.rejected[("cluster", "no_identifier")] += len(listed) - len(names)
        if self.clusters is not None:
            missing = sorted(self.clusters - set(names))
            if missing:
                raise FetchError("unknown_cluster", f"Cloudera Manager has no cluster {', '.join(missing)}")
            names = [n for n in names if n in self.clusters]
        for name in names:
            fold_services(name, self.client.services(name), state)
        hosts = fold_hosts(self.client.hosts(), self.clusters, state)
        now = self.clock()
        start, end = _iso(now - self.window), _iso(now)
        fold_host_series(self.client.timeseries(HOST_QUERY, start, end), hosts, state)
        fold_hdfs_series(self.client.timeseries(HDFS_QUERY, start, end), self.clusters, state)
        state.rejected = Counter({k: v for k, v in state.rejected.items() if v})
        return state

    def poll(self) -> None:
        started = time.monotonic()
        with self._lock:
            self.health.polls += 1
        try:
            state = self.collect()
            self.exposition.publish(DATA_PART, data_families(state))
        finally:
            with self._lock:
                self.health.poll_duration = time.monotonic() - started
        self.last_state = state
        with self._lock:
            self.health.up = 1
            self.health.last_success = self.clock()
        self.publish_health()

    def on_failure(self, exc: Exception) -> None:
        reason = exc.reason if isinstance(exc, FetchError) else exc.__class__.__name__.lower()
        with self._lock:
            self.health.up = 0
            self.health.failures[reason] += 1
        self.publish_health()

    def publish_health(self) -> None:
        with self._lock:
            families = health_families(self.health)
        self.exposition.publish(HEALTH_PART, families)

    def close(self) -> None:
        self.client.close()
