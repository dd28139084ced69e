"""`smmc exporter cloudera`: the Cloudera job-report exporter.

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
from smmc.options import OptionParser, log_level
from smmc.redact import install_log_redaction, redact_text, redact_url

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


def parse_duration_or_zero(text: str) -> float:
    return parse_duration(text, allow_zero=True)


def build_parser() -> OptionParser:
    parser = OptionParser(
        prog="smmc exporter cloudera",
        env_prefix="SMMC_CLOUDERA_",
        description="Export the Cloudera job status report (file or URL) and the job schedule as Prometheus "
        "metrics. Scrape it with honor_labels: true (its `job` label is the Cloudera job's name).",
    )
    parser.add_argument(
        "--report",
        required=True,
        help="report file (replaced daily) or http(s) URL; CSV/TSV or JSON",
    )
    parser.add_argument(
        "--schedule",
        required=True,
        help="job schedule YAML (criticality, deadline, frequency)",
    )
    parser.add_argument(
        "--listen",
        default=f"0.0.0.0:{DEFAULT_PORT}",
        help="address of /metrics",
    )
    parser.add_argument(
        "--interval",
        type=parse_duration,
        default="60s",
        help="how often to read the report and re-evaluate deadlines",
    )
    parser.add_argument(
        "--format",
        choices=("auto", "csv", "json"),
        default="auto",
        help="report format; auto decides from the name, Content-Type and content",
    )
    parser.add_argument(
        "--report-timezone",
        help="time zone of the report's naive times (default: the schedule's)",
    )
    parser.add_argument(
        "--timeout",
        type=parse_duration,
        default="30s",
        help="HTTP timeout for a report URL",
    )
    parser.add_argument(
        "--token-file",
        help="file holding a bearer token for the report URL; or set $SMMC_CLOUDERA_TOKEN",
    )
    parser.add_argument(
        "--settle",
        type=parse_duration_or_zero,
        default="2s",
        help="a report file modified less than this ago is read next cycle",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="read the report once, print the exposition to stdout and exit (1 when the report is unusable)",
    )
    parser.add_argument("--log-level", type=log_level, default="INFO", help="logging level")
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
    install_log_redaction()  # the report URL may carry an access_token; httpx logs every request line
    if "://" in args.report and not args.report.startswith(("http://", "https://")):
        parser.error(f"--report {args.report!r}: a URL must be http:// or https://")
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
            print(f"smmc exporter cloudera: {redact_text(str(exc))}", file=sys.stderr)
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
        redact_url(args.report),
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
