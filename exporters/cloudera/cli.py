"""`smmc exporter cloudera`: the Cloudera exporter: the job status report and, with `--cm-url`, the data
lake's resources from Cloudera Manager's REST API (host and service health, CPU, memory, HDFS storage).
Either source may run alone.

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

from exporters.cloudera.exporter import ClouderaExporter, ResourceCollector
from exporters.cloudera.read import ManagerClient, ReportFetcher
from exporters.cloudera.schedule import ScheduleError, load_schedule
from exporters.core import durations
from exporters.core.exposition import Exposition
from exporters.core.poller import Poller, RetryPolicy
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
        description="Export the Cloudera job status report (file or URL) and the job schedule, and/or the "
        "data lake's resources read from Cloudera Manager's REST API, as Prometheus metrics. Scrape it with "
        "honor_labels: true (its `job` label is the Cloudera job's name).",
    )
    parser.add_argument(
        "--report",
        help="report file (replaced daily) or http(s) URL; CSV/TSV or JSON (--report, --cm-url or both)",
    )
    parser.add_argument(
        "--schedule",
        help="job schedule YAML (criticality, deadline, frequency); required with --report",
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
    cm = parser.add_argument_group("Cloudera Manager (the data lake's resources)")
    cm.add_argument("--cm-url", help="Cloudera Manager base URL, e.g. https://cm.example:7183")
    cm.add_argument("--cm-user", help="API user (required with --cm-url)")
    cm.add_argument(
        "--cm-password-file", help="file holding the user's password; or set $SMMC_CLOUDERA_CM_PASSWORD"
    )
    cm.add_argument(
        "--cm-cluster",
        action="append",
        default=[],
        help="cluster to watch (repeat, or comma-separated in the variable; default every cluster)",
    )
    cm.add_argument(
        "--cm-api-version", help="API version such as v41 (default: the server's newest, from /api/version)"
    )
    cm.add_argument(
        "--cm-interval", type=parse_duration, default="60s", help="how often to poll Cloudera Manager"
    )
    cm.add_argument(
        "--cm-window",
        type=parse_duration,
        default="15m",
        help="time-series window read each poll; the newest point in it is exported",
    )
    cm.add_argument("--cm-ca-file", help="CA bundle for Cloudera Manager's TLS certificate")
    parser.add_argument(
        "--once",
        action="store_true",
        help="read each source once, print the exposition to stdout and exit (1 when a source is unusable)",
    )
    parser.add_argument("--log-level", type=log_level, default="INFO", help="logging level")
    return parser


def _token(args: argparse.Namespace) -> str | None:
    if args.token_file:
        return Path(args.token_file).read_text(encoding="utf-8").strip() or None
    return os.environ.get("SMMC_CLOUDERA_TOKEN") or None


def _cm_password(args: argparse.Namespace) -> str:
    if args.cm_password_file:
        return Path(args.cm_password_file).read_text(encoding="utf-8").strip()
    return os.environ.get("SMMC_CLOUDERA_CM_PASSWORD", "")


def _resource_collector(args: argparse.Namespace, exposition: Exposition) -> ResourceCollector:
    client = ManagerClient(
        args.cm_url,
        args.cm_user,
        _cm_password(args),
        api_version=args.cm_api_version,
        timeout=args.timeout,
        verify=args.cm_ca_file or True,
        policy=RetryPolicy(initial_backoff=min(1.0, args.cm_interval / 8), max_backoff=args.cm_interval / 2),
    )
    return ResourceCollector(client, exposition, clusters=args.cm_cluster, window=args.cm_window)


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    install_log_redaction()  # the report URL may carry an access_token; httpx logs every request line
    if not args.report and not args.cm_url:
        parser.error("give --report ($SMMC_CLOUDERA_REPORT), --cm-url ($SMMC_CLOUDERA_CM_URL), or both")
    if args.report and not args.schedule:
        parser.error("--schedule ($SMMC_CLOUDERA_SCHEDULE) is required with --report")
    if args.cm_url and not args.cm_user:
        parser.error("--cm-user ($SMMC_CLOUDERA_CM_USER) is required with --cm-url")
    for option, value in (("--report", args.report), ("--cm-url", args.cm_url)):
        if value and "://" in value and not value.startswith(("http://", "https://")):
            parser.error(f"{option} {value!r}: a URL must be http:// or https://")
    if args.cm_url and "://" not in args.cm_url:
        parser.error(f"--cm-url {args.cm_url!r}: give the scheme, http:// or https://")
    exposition = Exposition()
    exporter: ClouderaExporter | None = None
    fetcher: ReportFetcher | None = None
    resources: ResourceCollector | None = None
    if args.report:
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
            exposition,
            report_format=args.format,
            report_timezone=args.report_timezone or schedule.timezone,
        )
    if args.cm_url:
        try:
            resources = _resource_collector(args, exposition)
        except (OSError, ValueError) as exc:
            print(f"smmc exporter cloudera: Cloudera Manager: {redact_text(str(exc))}", file=sys.stderr)
            return 2
    if args.once:
        return _once(exposition, exporter, fetcher, resources)

    try:
        host, port = parse_listen(args.listen, DEFAULT_PORT)
    except ValueError as exc:
        parser.error(str(exc))
    server = ExporterServer(exposition, host, port, title="smmc Cloudera exporter").start()
    pollers = []
    if exporter is not None:
        pollers.append(Poller("cloudera-report", exporter.poll, args.interval).start())
        log.info(
            "report %s every %.0fs; %d scheduled jobs",
            redact_url(args.report),
            args.interval,
            len(exporter.schedule.jobs),
        )
    if resources is not None:
        pollers.append(
            Poller(
                "cloudera-manager", resources.poll, args.cm_interval, on_failure=resources.on_failure
            ).start()
        )
        log.info("Cloudera Manager %s every %.0fs", redact_url(args.cm_url), args.cm_interval)
    log.info("serving on %s:%d", host, server.port)
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    stop.wait()
    for poller in pollers:
        poller.stop()
    server.stop()
    if fetcher is not None:
        fetcher.close()
    if resources is not None:
        resources.close()
    return 0


def _once(
    exposition: Exposition,
    exporter: ClouderaExporter | None,
    fetcher: ReportFetcher | None,
    resources: ResourceCollector | None,
) -> int:
    """Each source once, the exposition to stdout; 1 when a source was unusable."""
    ok = True
    if exporter is not None:
        try:
            exporter.poll()
        except Exception as exc:
            print(f"smmc exporter cloudera: report: {redact_text(str(exc))}", file=sys.stderr)
        ok = exporter.up
    if resources is not None:
        try:
            resources.poll()
        except Exception as exc:
            resources.on_failure(exc)
            print(f"smmc exporter cloudera: Cloudera Manager: {redact_text(str(exc))}", file=sys.stderr)
            ok = False
    sys.stdout.buffer.write(exposition.body())
    if fetcher is not None:
        fetcher.close()
    if resources is not None:
        resources.close()
    return 0 if ok else 1
