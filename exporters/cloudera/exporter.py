"""The Cloudera exporter's wiring: read the report (file or URL), fold it, evaluate the schedule, publish.

One `poll()` per interval (run by `exporters.core.poller.Poller`): fetch the report, parse it when its
content changed, then evaluate every job's status at the current instant and publish the whole
exposition. Statuses are re-evaluated on every cycle even when the report did not change, because a
deadline passing is itself news. A report that cannot be fetched or parsed is counted by reason
(once per distinct broken content), `cloudera_report_up` drops to 0, and the last good report keeps
serving.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from exporters.cloudera import metrics
from exporters.cloudera.fold import (
    HDFS_QUERY,
    HOST_QUERY,
    JobTracker,
    Resources,
    fold_hdfs_series,
    fold_host_series,
    fold_hosts,
    fold_services,
)
from exporters.cloudera.read import (
    FETCH_FAILURE_REASONS,
    REPORT_FAILURE_REASONS,
    ROW_REJECT_REASONS,
    Fetched,
    ManagerClient,
    ReportError,
    ReportFetcher,
    parse_report,
)
from exporters.cloudera.schedule import Schedule
from exporters.core.exposition import Exposition
from exporters.core.poller import FetchError, PollHealth, PollingSource

log = logging.getLogger(__name__)


class ClouderaExporter:
    def __init__(
        self,
        fetcher: ReportFetcher,
        schedule: Schedule,
        exposition: Exposition | None = None,
        *,
        report_format: str = "auto",
        report_timezone: str = "America/Santiago",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.fetcher = fetcher
        self.schedule = schedule
        self.exposition = exposition or Exposition()
        self.report_format = report_format
        self.report_timezone = report_timezone
        self.clock = clock
        self.tracker = JobTracker(schedule)
        self.rows_rejected: Counter[str] = Counter({r: 0 for r in ROW_REJECT_REASONS})
        self.failures: Counter[str] = Counter(
            {r: 0 for r in (*REPORT_FAILURE_REASONS, *FETCH_FAILURE_REASONS)}
        )
        self.up = False
        self.last_success: float | None = None
        self.last_change: float | None = None
        self.report_rows = 0
        self.last_error: str | None = None
        self._good_sha: str | None = None
        self._bad_sha: str | None = None
        self._lock = threading.Lock()
        self.publish(self.clock())

    # -- one cycle ------------------------------------------------------------------------------------
    def poll(self) -> None:
        """Fetch, parse if changed, evaluate, publish. Raises the fetch/parse error after publishing."""
        with self._lock:
            now = self.clock()
            error: Exception | None = None
            try:
                fetched = self.fetcher.fetch()
            except FetchError as exc:
                self.failures[exc.reason] += 1
                error = exc
            else:
                try:
                    self._take(fetched, now)
                except ReportError as exc:
                    error = exc
            if error is None and self._good_sha is not None and self._bad_sha is None:
                self.up = True
                self.last_success = now
                self.last_error = None
            elif error is not None:
                self.up = False
                self.last_error = f"{getattr(error, 'reason', 'error')}: {error}"
            self.publish(now)
        if error is not None:
            raise error

    def _take(self, fetched: Fetched | None, now: float) -> None:
        if fetched is None:  # not modified, or being written: the previous verdict stands
            if self._bad_sha is not None:
                raise ReportError("unchanged_bad", "the report is still the broken one")
            return
        sha = hashlib.sha256(fetched.content).hexdigest()
        if sha == self._good_sha:
            self._bad_sha = None
            return
        if sha == self._bad_sha:
            # the same broken content: already counted, still not usable
            raise ReportError("unchanged_bad", "the report is still the broken one")
        try:
            report = parse_report(
                fetched.content,
                fmt=self.report_format,
                tz=self.report_timezone,
                name=fetched.name,
                content_type=fetched.content_type,
            )
        except ReportError as exc:
            self.failures[exc.reason] += 1
            self._bad_sha = sha
            self.fetcher.forget_validators()
            log.error("cloudera report rejected (%s): %s", exc.reason, exc)
            raise
        self.tracker.fold(report.rows)
        self.rows_rejected.update(report.rejected)
        for example in report.examples:
            log.warning("cloudera report row rejected: %s", example)
        self.report_rows = len(report.rows)
        self._good_sha, self._bad_sha = sha, None
        self.last_change = now
        log.info(
            "cloudera report read: %d rows, %d rejected", len(report.rows), sum(report.rejected.values())
        )

    # -- exposition -----------------------------------------------------------------------------------
    def publish(self, now: float) -> None:
        statuses = self.tracker.evaluate(now)
        self.exposition.publish("cloudera", metrics.families(statuses, len(self.schedule.jobs), self))


# -- the data lake's resources (Cloudera Manager) -----------------------------------------------------------
RESOURCES_PART = "cloudera_resources_1"
MANAGER_HEALTH_PART = "cloudera_resources_0_health"


def _iso_utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class ResourceCollector(PollingSource):
    """The data lake's resources from Cloudera Manager (the exporter's `--cm-url`), one `poll()` per
    interval: the clusters, each cluster's services, the hosts, and two tsqueries on the time-series
    endpoint (host CPU and memory; HDFS capacity), folded and published. The resource part of the
    exposition is replaced only when every call succeeded, so between failures Prometheus keeps reading
    the last good data (its age in `cloudera_manager_last_success_timestamp_seconds`) while
    `cloudera_manager_up` drops to 0."""

    def __init__(
        self,
        client: ManagerClient,
        exposition: Exposition,
        *,
        clusters: Iterable[str] = (),
        window: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            exposition,
            MANAGER_HEALTH_PART,
            metrics.manager_health_families,
            PollHealth(failures=Counter(dict.fromkeys(metrics.FAILURE_REASONS, 0))),
        )
        self.client = client
        self.clusters = set(clusters) or None
        self.window = window
        self.clock = clock
        self.last_state: Resources | None = None
        if client.on_response is None:
            client.on_response = self.count_response

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
        start, end = _iso_utc(now - self.window), _iso_utc(now)
        fold_host_series(self.client.timeseries(HOST_QUERY, start, end), hosts, state)
        fold_hdfs_series(self.client.timeseries(HDFS_QUERY, start, end), self.clusters, state)
        state.rejected = Counter({k: v for k, v in state.rejected.items() if v})
        return state

    def poll(self) -> None:
        with self.poll_cycle():
            state = self.collect()
            self.exposition.publish(RESOURCES_PART, metrics.resource_families(state))
        self.last_state = state
        self.poll_succeeded(self.clock())

    def close(self) -> None:
        self.client.close()
