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

from collections.abc import Iterable
from dataclasses import dataclass
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
