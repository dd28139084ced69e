"""`smmc exporter cloudera`: the Cloudera job-report exporter (default port 9812).

Every option can also come from the environment (`SMMC_CLOUDERA_*`, see `--help`); a command-line
option wins over its variable.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from exporters.cloudera.exporter import ClouderaExporter
from exporters.cloudera.read import ReportFetcher
from exporters.cloudera.schedule import ScheduleError, load_schedule
from exporters.core import durations
from exporters.core.poller import Poller
from exporters.core.server import ExporterServer, parse_listen

DEFAULT_PORT = 9812
log = logging.getLogger("smmc.exporter.cloudera")


def parse_duration(text: str, allow_zero: bool = False) -> float:
    """`60`, `60s`, `5m`, `1h`, `1.5s` -> seconds, as an argparse type."""
    try:
        seconds = durations.parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if seconds == 0 and not allow_zero:
        raise argparse.ArgumentTypeError(f"duration {text!r} must be positive")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="smmc exporter cloudera",
        description="Export the Cloudera job status report (file or URL) and the job schedule as Prometheus "
        "metrics. Scrape it with honor_labels: true (its `job` label is the Cloudera job's name).",
    )
    parser.add_argument(
        "--report",
        default=env("SMMC_CLOUDERA_REPORT"),
        help="report file (replaced daily) or http(s) URL; CSV/TSV or JSON [$SMMC_CLOUDERA_REPORT]",
    )
    parser.add_argument(
        "--schedule",
        default=env("SMMC_CLOUDERA_SCHEDULE"),
        help="job schedule YAML (criticality, deadline, frequency) [$SMMC_CLOUDERA_SCHEDULE]",
    )
    parser.add_argument(
        "--listen",
        default=env("SMMC_CLOUDERA_LISTEN", f"0.0.0.0:{DEFAULT_PORT}"),
        help=f"address of /metrics (default 0.0.0.0:{DEFAULT_PORT}) [$SMMC_CLOUDERA_LISTEN]",
    )
    parser.add_argument(
        "--interval",
        type=parse_duration,
        default=env("SMMC_CLOUDERA_INTERVAL", "60s"),
        help="how often to read the report and re-evaluate deadlines (default 60s) [$SMMC_CLOUDERA_INTERVAL]",
    )
    parser.add_argument(
        "--format",
        choices=("auto", "csv", "json"),
        default=env("SMMC_CLOUDERA_FORMAT", "auto"),
        help="report format; auto decides from the name, Content-Type and content [$SMMC_CLOUDERA_FORMAT]",
    )
    parser.add_argument(
        "--report-timezone",
        default=env("SMMC_CLOUDERA_REPORT_TIMEZONE"),
        help="time zone of the report's naive times (default: the schedule's) "
        "[$SMMC_CLOUDERA_REPORT_TIMEZONE]",
    )
    parser.add_argument(
        "--timeout",
        type=parse_duration,
        default=env("SMMC_CLOUDERA_TIMEOUT", "30s"),
        help="HTTP timeout for a report URL (default 30s) [$SMMC_CLOUDERA_TIMEOUT]",
    )
    parser.add_argument(
        "--token-file",
        default=env("SMMC_CLOUDERA_TOKEN_FILE"),
        help="file holding a bearer token for the report URL [$SMMC_CLOUDERA_TOKEN_FILE]; "
        "or set $SMMC_CLOUDERA_TOKEN",
    )
    parser.add_argument(
        "--settle",
        type=lambda text: parse_duration(text, allow_zero=True),
        default=env("SMMC_CLOUDERA_SETTLE", "2s"),
        help="a report file modified less than this ago is read next cycle (default 2s) "
        "[$SMMC_CLOUDERA_SETTLE]",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="read the report once, print the exposition to stdout and exit (1 when the report is unusable)",
    )
    parser.add_argument("--log-level", default=env("SMMC_LOG_LEVEL", "INFO"), help="[$SMMC_LOG_LEVEL]")
    return parser


def _token(args: argparse.Namespace) -> str | None:
    if args.token_file:
        return Path(args.token_file).read_text(encoding="utf-8").strip() or None
    return os.environ.get("SMMC_CLOUDERA_TOKEN") or None


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.report:
        parser.error("--report (or $SMMC_CLOUDERA_REPORT) is required")
    if not args.schedule:
        parser.error("--schedule (or $SMMC_CLOUDERA_SCHEDULE) is required")
    try:
        schedule = load_schedule(args.schedule)
    except ScheduleError as exc:
        print(f"smmc exporter cloudera: {exc}", file=sys.stderr)
        return 2
    try:
        token = _token(args)
    except OSError as exc:
        print(f"smmc exporter cloudera: cannot read token file: {exc}", file=sys.stderr)
        return 2
    fetcher = ReportFetcher(
        args.report,
        timeout=args.timeout,
        token=token,
        settle_seconds=0.0 if args.once else args.settle,
    )
    exporter = ClouderaExporter(
        fetcher,
        schedule,
        report_format=args.format,
        report_timezone=args.report_timezone or schedule.timezone,
    )
    if args.once:
        try:
            exporter.poll()
        except Exception as exc:
            print(f"smmc exporter cloudera: {exc}", file=sys.stderr)
        sys.stdout.buffer.write(exporter.exposition.body())
        fetcher.close()
        return 0 if exporter.up else 1

    try:
        host, port = parse_listen(args.listen, DEFAULT_PORT)
    except ValueError as exc:
        parser.error(str(exc))
    server = ExporterServer(exporter.exposition, host, port, title="smmc Cloudera exporter").start()
    poller = Poller("cloudera-report", exporter.poll, args.interval).start()
    log.info(
        "serving on %s:%d; report %s every %.0fs; %d scheduled jobs",
        host,
        server.port,
        args.report,
        args.interval,
        len(schedule.jobs),
    )
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    stop.wait()
    poller.stop()
    server.stop()
    fetcher.close()
    return 0
