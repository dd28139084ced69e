"""`smmc simulate cloudera`: a Cloudera job status report, in the seed's columns, for one day.

Every job of the schedule (by default the seed's nine, `exporters/cloudera/jobs.example.yml`) runs
before its deadline at a time derived from its name (the same day gives the same report), except the
jobs named with `--late` (no run, "Retraso en ejecucion") and `--failed` (a run that ended in "Error").

The generator is importable, for scenarios ("a late critical Cloudera job"):

    from simulator.cloudera import generate_report, write_report, example_schedule
    schedule = example_schedule()
    rows = generate_report(schedule, date(2024, 5, 2), late=critical_jobs(schedule)[:1])
    write_report(rows, Path("inbox/cloudera.csv"), fmt="csv")
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from exporters.cloudera.schedule import JobSpec, Schedule, ScheduleError, load_schedule
from simulator.cli import part_parser
from smmc.options import fail, writable_file

EXAMPLE_SCHEDULE = Path(__file__).resolve().parent.parent / "exporters" / "cloudera" / "jobs.example.yml"
HEADER = ("proceso", "hora_ejecucion", "estado_final", "criticidad")
STATUS_TEXT = {"ok": "OK", "late": "Retraso en ejecucion", "failed": "Error"}
CRITICALITY_TEXT = {"critical": "Critico", "non_critical": "No Critico"}


@dataclass(frozen=True)
class SimulatedRow:
    job: str
    run: datetime | None  # local (naive) time of the run; None when it did not run
    status: str  # ok | late | failed
    criticality: str

    def as_seed_row(self) -> dict[str, str]:
        return {
            "proceso": self.job,
            "hora_ejecucion": self.run.strftime("%Y-%m-%d %H:%M:%S.%f") if self.run else "None",
            "estado_final": STATUS_TEXT[self.status],
            "criticidad": CRITICALITY_TEXT[self.criticality],
        }


def example_schedule() -> Schedule:
    return load_schedule(EXAMPLE_SCHEDULE)


def critical_jobs(schedule: Schedule) -> list[str]:
    return [job.name for job in schedule.jobs if job.criticality == "critical"]


def _offset_seconds(job: str, day: date, span: int) -> int:
    digest = hashlib.sha256(f"{job}|{day.isoformat()}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % span


def _run_time(spec: JobSpec, day: date) -> datetime:
    """A run between 90 and 15 minutes before the deadline (and not before the cycle opens)."""
    deadline = datetime.combine(day, spec.deadline)
    earliest = max(deadline - timedelta(minutes=90), datetime.combine(day, spec.window_start))
    latest = deadline - timedelta(minutes=15)
    if spec.every == "hour" or latest <= earliest:
        earliest, latest = deadline - timedelta(minutes=min(30, spec.deadline.minute or 30)), deadline
    span = max(1, int((latest - earliest).total_seconds()))
    micro = _offset_seconds(spec.name + "µ", day, 1_000_000)
    return earliest + timedelta(seconds=_offset_seconds(spec.name, day, span), microseconds=micro)


def generate_report(
    schedule: Schedule,
    day: date,
    *,
    late: Iterable[str] = (),
    failed: Iterable[str] = (),
) -> list[SimulatedRow]:
    """One row per scheduled job (daily jobs that do not run that weekday are left out)."""
    late, failed = set(late), set(failed)
    known = set(schedule.names())
    unknown = sorted((late | failed) - known)
    if unknown:
        raise ValueError(f"not in the schedule: {', '.join(unknown)}")
    both = sorted(late & failed)
    if both:
        raise ValueError(f"both late and failed: {', '.join(both)}")
    rows = []
    for spec in schedule.jobs:
        if spec.every == "day" and day.weekday() not in spec.days:
            continue
        if spec.name in late:
            rows.append(SimulatedRow(spec.name, None, "late", spec.criticality))
        else:
            status = "failed" if spec.name in failed else "ok"
            rows.append(SimulatedRow(spec.name, _run_time(spec, day), status, spec.criticality))
    # the seed's order: successes first, then failures and delays
    return sorted(rows, key=lambda r: r.status != "ok")


def render(rows: Sequence[SimulatedRow], fmt: str = "csv") -> str:
    if fmt == "json":
        return json.dumps([r.as_seed_row() for r in rows], ensure_ascii=False, indent=2) + "\n"
    if fmt not in ("csv", "tsv"):
        raise ValueError(f"unknown format {fmt!r}")
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=HEADER, delimiter="," if fmt == "csv" else "\t", lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(r.as_seed_row() for r in rows)
    return out.getvalue()


def write_report(rows: Sequence[SimulatedRow], path: Path, fmt: str = "csv") -> Path:
    """Write atomically (temporary file, then rename), as a producer replacing the daily report should."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(render(rows, fmt))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def main(argv: list[str]) -> int:
    parser = part_parser("cloudera", "Write a simulated Cloudera job status report.")
    parser.add_argument("--out", required=True, help="report file to write (replaced atomically)")
    parser.add_argument(
        "--date", type=date.fromisoformat, default=None, help="day of the report (default today)"
    )
    parser.add_argument("--late", nargs="+", default=[], metavar="JOB", help="jobs that did not run")
    parser.add_argument("--failed", nargs="+", default=[], metavar="JOB", help="jobs whose run failed")
    parser.add_argument("--format", choices=("csv", "json", "tsv"), default=None, help="default: from --out")
    parser.add_argument(
        "--schedule", default=str(EXAMPLE_SCHEDULE), help="job schedule (default: the example)"
    )
    args = parser.parse_args(argv)
    try:
        writable_file(args.out)
    except argparse.ArgumentTypeError as exc:
        return fail("smmc simulate cloudera", f"--out {exc}")
    try:
        schedule = load_schedule(args.schedule)
    except ScheduleError as exc:
        print(f"smmc simulate cloudera: {exc}", file=sys.stderr)
        return 2
    day = args.date or datetime.now(schedule.tz).date()
    fmt = args.format or (
        "json" if args.out.endswith(".json") else "tsv" if args.out.endswith(".tsv") else "csv"
    )
    try:
        rows = generate_report(schedule, day, late=args.late, failed=args.failed)
    except ValueError as exc:
        print(f"smmc simulate cloudera: {exc}", file=sys.stderr)
        return 2
    write_report(rows, Path(args.out), fmt)
    counts = ", ".join(f"{sum(1 for r in rows if r.status == s)} {s}" for s in ("ok", "late", "failed"))
    print(f"{args.out}: {len(rows)} jobs for {day} ({counts})")
    return 0
