"""The schedule: deadlines in America/Santiago local time across daylight-saving changes, cycles, and the
status of a job at a given instant (injected clock)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from exporters.cloudera.fold import JobTracker
from exporters.cloudera.read import ReportRow
from exporters.cloudera.schedule import ScheduleError, load_schedule, parse_schedule

SANTIAGO = ZoneInfo("America/Santiago")
EXAMPLE = Path(__file__).resolve().parent.parent / "exporters" / "cloudera" / "jobs.example.yml"


def utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()


def local(*parts: int) -> float:
    return datetime(*parts, tzinfo=SANTIAGO).timestamp()


def schedule_of(*jobs: dict) -> object:
    return parse_schedule({"timezone": "America/Santiago", "jobs": list(jobs)})


def status_at(tracker: JobTracker, now: float, job: str = "J") -> tuple[str, float | None]:
    item = next(s for s in tracker.evaluate(now) if s.job == job)
    return item.status, item.deadline


def test_the_example_schedule_lists_the_seeds_nine_jobs() -> None:
    schedule = load_schedule(EXAMPLE)
    assert len(schedule.jobs) == 9 and schedule.timezone == "America/Santiago"
    critical = {j.name for j in schedule.jobs if j.criticality == "critical"}
    assert critical == {
        "smt mother Flow",
        "son flow 1",
        "eOrder - Chile - Ingesta y Procesamiento",
        "NCO - Chile - Ingesta y Procesamiento",
        "icmt_smtssb0005.py",
    }


def test_absent_job_turns_late_exactly_at_its_deadline_when_clocks_go_forward() -> None:
    # Chile: on 2022-09-11 local midnight jumps to 01:00 (UTC-4 -> UTC-3). A 06:00 deadline is then
    # 09:00 UTC, not 10:00 UTC as it was the day before.
    tracker = JobTracker(schedule_of({"name": "J", "criticality": "critical", "deadline": "06:00"}))
    tracker.fold([ReportRow("J", "ok", "critical", local(2022, 9, 10, 5, 0))])
    tracker.fold([ReportRow("OTHER", "ok", "non_critical", local(2022, 9, 11, 1, 30))])  # J is absent
    assert status_at(tracker, utc(2022, 9, 10, 9, 59, 59))[0] == "ok"  # the day before: 06:00 was 10:00Z
    assert status_at(tracker, utc(2022, 9, 11, 8, 59, 59)) == ("ok", utc(2022, 9, 11, 9, 0))
    assert status_at(tracker, utc(2022, 9, 11, 9, 0, 0)) == ("late", utc(2022, 9, 11, 9, 0))
    assert status_at(tracker, utc(2022, 9, 11, 9, 0, 0) - 0.001)[0] == "ok"
    # still late the next morning, before the next deadline: the missed cycle is not forgiven
    assert status_at(tracker, local(2022, 9, 12, 2, 0)) == ("late", local(2022, 9, 12, 6, 0))


def test_absent_job_turns_late_exactly_at_its_deadline_when_clocks_go_back() -> None:
    # 2022-04-03: local midnight is repeated (UTC-3 -> UTC-4); 06:00 that day is 10:00 UTC.
    tracker = JobTracker(schedule_of({"name": "J", "criticality": "non_critical", "deadline": "06:00"}))
    tracker.fold([ReportRow("J", "ok", "non_critical", local(2022, 4, 2, 4, 0))])
    tracker.fold([])
    assert status_at(tracker, utc(2022, 4, 2, 9, 0))[0] == "ok"
    assert status_at(tracker, utc(2022, 4, 3, 9, 59, 59)) == ("ok", utc(2022, 4, 3, 10, 0))
    assert status_at(tracker, utc(2022, 4, 3, 10, 0, 0)) == ("late", utc(2022, 4, 3, 10, 0))


def test_deadline_inside_the_skipped_hour_resolves_to_the_jump() -> None:
    tracker = JobTracker(schedule_of({"name": "J", "criticality": "critical", "deadline": "00:30"}))
    tracker.fold([ReportRow("J", "ok", "critical", local(2022, 9, 10, 0, 10))])
    # 00:30 does not exist on 2022-09-11; it resolves to 04:30Z (= 01:30 after the jump)
    assert status_at(tracker, utc(2022, 9, 11, 4, 29, 59))[0] == "ok"
    assert status_at(tracker, utc(2022, 9, 11, 4, 30)) == ("late", utc(2022, 9, 11, 4, 30))


def test_a_run_belongs_to_its_own_cycle() -> None:
    tracker = JobTracker(schedule_of({"name": "J", "criticality": "critical", "deadline": "06:00"}))
    tracker.fold([ReportRow("J", "ok", "critical", local(2024, 5, 2, 7, 30))])  # ran late, at 07:30
    assert status_at(tracker, local(2024, 5, 2, 8, 0))[0] == "ok"  # today's cycle is done
    assert status_at(tracker, local(2024, 5, 3, 5, 59))[0] == "ok"  # before tomorrow's deadline
    assert status_at(tracker, local(2024, 5, 3, 6, 0))[0] == "late"  # the late run does not count twice


def test_failures_and_the_reports_own_verdict() -> None:
    tracker = JobTracker(schedule_of({"name": "J", "criticality": "critical", "deadline": "06:00"}))
    tracker.fold([ReportRow("J", "failed", "critical", local(2024, 5, 2, 4, 0))])
    assert status_at(tracker, local(2024, 5, 2, 5, 0))[0] == "failed"  # failed before the deadline
    tracker.fold([ReportRow("J", "ok", "critical", local(2024, 5, 2, 5, 10))])  # rerun succeeded
    assert status_at(tracker, local(2024, 5, 2, 7, 0))[0] == "ok"
    # the report says it is late even though the deadline has not passed yet
    tracker = JobTracker(schedule_of({"name": "J", "criticality": "critical", "deadline": "06:00"}))
    tracker.fold([ReportRow("J", "late", "critical", None)])
    assert status_at(tracker, local(2024, 5, 2, 1, 0))[0] == "late"


def test_unknown_until_something_is_known() -> None:
    tracker = JobTracker(schedule_of({"name": "J", "criticality": "critical", "deadline": "06:00"}))
    assert status_at(tracker, local(2024, 5, 2, 12, 0))[0] == "unknown"  # no report read at all
    tracker.fold([])
    assert status_at(tracker, local(2024, 5, 2, 5, 0))[0] == "unknown"  # never seen, deadline ahead
    assert status_at(tracker, local(2024, 5, 2, 6, 0))[0] == "late"  # the deadline decides


def test_weekday_jobs_and_window_start() -> None:
    schedule = schedule_of(
        {
            "name": "J",
            "criticality": "critical",
            "deadline": "01:00",
            "window_start": "20:00",
            "days": ["mon", "fri"],
        }
    )
    tracker = JobTracker(schedule)
    # cycle of Friday 2024-05-03 opens Thursday 20:00; a run at 23:00 Thursday counts for it
    tracker.fold([ReportRow("J", "ok", "critical", local(2024, 5, 2, 23, 0))])
    assert status_at(tracker, local(2024, 5, 3, 2, 0)) == ("ok", local(2024, 5, 3, 1, 0))
    # over the weekend the Friday cycle lasts until Sunday 20:00: still ok on Saturday
    assert status_at(tracker, local(2024, 5, 4, 12, 0)) == ("ok", local(2024, 5, 3, 1, 0))
    # Monday's cycle: nothing yet, deadline 01:00 Monday passes
    assert status_at(tracker, local(2024, 5, 6, 0, 59))[0] == "ok"
    assert status_at(tracker, local(2024, 5, 6, 1, 0))[0] == "late"


def test_hourly_jobs() -> None:
    tracker = JobTracker(
        schedule_of({"name": "J", "criticality": "non_critical", "every": "hour", "deadline": ":20"})
    )
    tracker.fold([ReportRow("J", "ok", "non_critical", local(2024, 5, 2, 10, 5))])
    assert status_at(tracker, local(2024, 5, 2, 10, 30)) == ("ok", local(2024, 5, 2, 10, 20))
    assert status_at(tracker, local(2024, 5, 2, 11, 19))[0] == "ok"
    assert status_at(tracker, local(2024, 5, 2, 11, 20)) == ("late", local(2024, 5, 2, 11, 20))


def test_jobs_only_in_the_report_are_exported_as_unscheduled() -> None:
    tracker = JobTracker(schedule_of({"name": "J", "criticality": "critical", "deadline": "06:00"}))
    tracker.fold([ReportRow("extra", "late", "non_critical", None)])
    extra = next(s for s in tracker.evaluate(local(2024, 5, 2, 7, 0)) if s.job == "extra")
    assert (extra.status, extra.criticality, extra.scheduled, extra.deadline) == (
        "late",
        "non_critical",
        False,
        None,
    )


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"jobs": [{"name": "J", "criticality": "alta", "deadline": "06:00"}]}, "criticality"),
        ({"jobs": [{"name": "J", "criticality": "critical", "deadline": "25:00"}]}, "valid time"),
        ({"jobs": [{"name": "J", "criticality": "critical", "deadline": "6pm"}]}, "HH:MM"),
        ({"jobs": [{"name": "J", "criticality": "critical"}]}, "deadline"),
        ({"jobs": [{"criticality": "critical", "deadline": "06:00"}]}, "name"),
        ({"jobs": [{"name": "J", "criticality": "critical", "deadline": "06:00", "every": "week"}]}, "every"),
        ({"jobs": [{"name": "J", "criticality": "critical", "deadline": "06:00", "days": ["xyz"]}]}, "day"),
        (
            {"jobs": [{"name": "J", "criticality": "critical", "deadline": "06:00", "colour": "red"}]},
            "colour",
        ),
        ({"jobs": [{"name": "J", "criticality": "critical", "every": "hour", "deadline": ":75"}]}, "minute"),
        (
            {"jobs": [{"name": "J", "criticality": "critical", "deadline": "06:00"}] * 2},
            "twice",
        ),
        ({"timezone": "Mars/Olympus", "jobs": []}, "time zone"),
        (
            {
                "jobs": [
                    {"name": "J", "criticality": "critical", "deadline": "06:00", "window_start": "06:00"}
                ]
            },
            "equals",
        ),
        (["not", "a", "mapping"], "mapping"),
    ],
)
def test_invalid_schedules_are_refused_with_the_reason(document: object, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(document)


def test_unreadable_schedule_files(tmp_path: Path) -> None:
    with pytest.raises(ScheduleError, match="cannot read"):
        load_schedule(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("jobs: [unclosed\n")
    with pytest.raises(ScheduleError, match="YAML"):
        load_schedule(bad)
