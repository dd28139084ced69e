"""The Cloudera exporter: fetch the report (file or URL), fold it, evaluate the schedule, publish.

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from exporters.cloudera.jobs import STATUSES, JobTracker, count_by_status
from exporters.cloudera.report import REPORT_FAILURE_REASONS, ROW_REJECT_REASONS, ReportError, parse_report
from exporters.cloudera.schedule import Schedule
from exporters.core.exposition import Exposition, MetricFamily, counter, gauge
from exporters.core.poller import FetchError, RetryPolicy, request_with_retry

log = logging.getLogger(__name__)

FETCH_FAILURE_REASONS = ("missing_file", "unreadable_file")


@dataclass(frozen=True)
class Fetched:
    content: bytes
    name: str
    content_type: str = ""


class ReportFetcher:
    """Reads the report from a path or an http(s) URL. `fetch()` returns None when it has not changed
    (HTTP 304, or a file still being written) and raises `FetchError` when it cannot be had."""

    def __init__(
        self,
        location: str,
        *,
        timeout: float = 30.0,
        token: str | None = None,
        settle_seconds: float = 2.0,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.location = location
        self.is_url = location.startswith(("http://", "https://"))
        self.settle_seconds = settle_seconds
        self._clock = clock
        self._sleep = sleep
        self._retry = retry or RetryPolicy()
        self._validators: dict[str, str] = {}
        self._client: httpx.Client | None = None
        if self.is_url:
            headers = {"Accept": "text/csv, text/tab-separated-values, application/json;q=0.9, */*;q=0.5"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            self._client = httpx.Client(timeout=timeout, headers=headers, follow_redirects=True)

    def fetch(self) -> Fetched | None:
        return self._fetch_url() if self.is_url else self._fetch_file()

    def _fetch_file(self) -> Fetched | None:
        path = Path(self.location)
        try:
            stat = path.stat()
            if self.settle_seconds > 0 and self._clock() - stat.st_mtime < self.settle_seconds:
                return None  # being replaced right now; read it next cycle
            content = path.read_bytes()
        except FileNotFoundError as exc:
            raise FetchError("missing_file", f"report file {path} does not exist") from exc
        except OSError as exc:
            raise FetchError("unreadable_file", f"cannot read report file {path}: {exc}") from exc
        return Fetched(content=content, name=path.name)

    def _fetch_url(self) -> Fetched | None:
        assert self._client is not None
        headers = {}
        if "etag" in self._validators:
            headers["If-None-Match"] = self._validators["etag"]
        if "last-modified" in self._validators:
            headers["If-Modified-Since"] = self._validators["last-modified"]
        response = request_with_retry(
            self._client, "GET", self.location, policy=self._retry, sleep=self._sleep, headers=headers
        )
        if response.status_code == 304:
            return None
        if response.status_code >= 300:
            raise FetchError(
                f"http_{response.status_code}", f"GET {self.location}: HTTP {response.status_code}"
            )
        self._validators = {
            k: response.headers[k] for k in ("etag", "last-modified") if response.headers.get(k)
        }
        return Fetched(
            content=response.content,
            name=httpx.URL(self.location).path.rsplit("/", 1)[-1],
            content_type=response.headers.get("content-type", ""),
        )

    def forget_validators(self) -> None:
        """After a broken report, fetch the whole body again next time (the server may fix it in place)."""
        self._validators = {}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


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
    def families(self, now: float) -> list[MetricFamily]:
        statuses = self.tracker.evaluate(now)
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
        unscheduled = gauge(
            "cloudera_jobs_unscheduled", "Jobs in the report that the schedule does not list."
        )
        unscheduled.add((), sum(1 for item in statuses if not item.scheduled))
        scheduled = gauge("cloudera_schedule_jobs", "Jobs listed in the schedule.")
        scheduled.add((), len(self.schedule.jobs))

        up = gauge("cloudera_report_up", "1 when the last attempt to read the report gave a usable report.")
        up.add((), 1 if self.up else 0)
        last_ok = gauge(
            "cloudera_report_last_success_timestamp_seconds",
            "When the report was last read successfully (changed or not).",
        )
        if self.last_success is not None:
            last_ok.add((), self.last_success)
        changed = gauge(
            "cloudera_report_last_change_timestamp_seconds", "When a new good report was last taken."
        )
        if self.last_change is not None:
            changed.add((), self.last_change)
        rows = gauge("cloudera_report_rows", "Rows accepted from the current report.")
        rows.add((), self.report_rows)
        rejected = counter(
            "cloudera_report_rows_rejected_total", "Report rows rejected, by reason.", ("reason",)
        )
        rejected.add_many(((reason,), n) for reason, n in sorted(self.rows_rejected.items()))
        failures = counter(
            "cloudera_report_failures_total",
            "Reports that could not be fetched or used at all, by reason (the last good one keeps serving).",
            ("reason",),
        )
        failures.add_many(((reason,), n) for reason, n in sorted(self.failures.items()))
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

    def publish(self, now: float) -> None:
        self.exposition.publish("cloudera", self.families(now))
