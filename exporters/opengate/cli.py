"""`smmc exporter opengate`: poll the OpenGate North API in the background, serve /metrics.

The API key comes from the environment (OPENGATE_API_KEY) or a file (--api-key-file), never from the
command line, and is never logged.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

from exporters.core.exposition import Exposition
from exporters.core.poller import Poller, RetryPolicy
from exporters.core.server import ExporterServer, parse_listen
from exporters.opengate.config import ConfigError, load_datastreams, parse_duration
from exporters.opengate.exporter import OpenGateExporter
from exporters.opengate.read import (
    DEFAULT_FLEET_GROWTH,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MIN_PAGES,
    MAX_PAGE_SIZE,
    NorthClient,
)
from smmc.options import OptionParser, log_level, positive_int, url_with_scheme
from smmc.redact import install_log_redaction, redact_url

DEFAULT_PORT = 9811
PROG = "smmc exporter opengate"
log = logging.getLogger("smmc.exporter.opengate")


def build_parser() -> OptionParser:
    p = OptionParser(prog=PROG, env_prefix="SMMC_OPENGATE_", description=__doc__)
    p.add_argument(
        "--url", required=True, type=url_with_scheme, help="OpenGate base URL, e.g. https://api.opengate.es"
    )
    p.add_argument("--organization", required=True, help="OpenGate organization whose fleet is watched")
    p.add_argument("--interval", default="60s", help="poll interval")
    p.add_argument("--listen", default=f"0.0.0.0:{DEFAULT_PORT}", help="host:port for /metrics")
    p.add_argument("--api-key-file", help="file holding the API key (else env OPENGATE_API_KEY)")
    p.add_argument("--datastreams", help="site YAML overriding the default datastream ids")
    p.add_argument("--timeout", default="10s", help="per-request timeout")
    p.add_argument("--page-size", type=positive_int, default=MAX_PAGE_SIZE, help="rows per page (max 1000)")
    p.add_argument("--workers", type=positive_int, default=3, help="searches run in parallel")
    p.add_argument(
        "--cycle-deadline",
        help="longest a whole poll cycle (every page of the three searches, retries included) may take "
        "before it fails with reason deadline (default: 80%% of --interval)",
    )
    p.add_argument(
        "--max-response-bytes",
        type=positive_int,
        default=DEFAULT_MAX_RESPONSE_BYTES,
        help="largest answer read, in bytes; a larger page fails the cycle",
    )
    p.add_argument(
        "--max-fleet-growth",
        type=float,
        default=DEFAULT_FLEET_GROWTH,
        help="pages per search are capped at this many times the rows the search returned last time "
        f"(never fewer than {DEFAULT_MIN_PAGES} pages)",
    )
    p.add_argument("--log-level", type=log_level, default="INFO", help="logging level")
    return p


def read_api_key(key_file: str | None) -> str:
    if key_file:
        try:
            key = Path(key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read --api-key-file: {exc.strerror}") from exc
        if not key:
            raise ConfigError(f"--api-key-file {key_file} is empty")
        return key
    key = os.environ.get("OPENGATE_API_KEY", "").strip()
    if not key:
        raise ConfigError("no API key: set OPENGATE_API_KEY or pass --api-key-file")
    return key


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # request lines would be noise
    install_log_redaction()  # and any URL that is logged loses its userinfo and credential parameters
    try:
        api_key = read_api_key(args.api_key_file)
        datastreams = load_datastreams(args.datastreams)
        interval = parse_duration(args.interval)
        timeout = parse_duration(args.timeout)
        cycle_deadline = parse_duration(args.cycle_deadline) if args.cycle_deadline else 0.8 * interval
        if args.max_response_bytes < 1024 or args.max_fleet_growth < 1:
            raise ConfigError("--max-response-bytes must be >= 1024 and --max-fleet-growth >= 1")
        host, port = parse_listen(args.listen, DEFAULT_PORT)
        if not 1 <= args.page_size <= MAX_PAGE_SIZE:
            raise ConfigError(f"--page-size must be between 1 and {MAX_PAGE_SIZE}")
    except (ConfigError, ValueError) as exc:
        print(f"smmc exporter opengate: {exc}", file=sys.stderr)
        return 2

    exposition = Exposition()
    client = NorthClient(
        args.url,
        api_key,
        timeout=timeout,
        page_size=args.page_size,
        policy=RetryPolicy(attempts=4, initial_backoff=min(1.0, interval / 8), max_backoff=interval / 2),
        max_response_bytes=args.max_response_bytes,
        fleet_growth=args.max_fleet_growth,
    )
    exporter = OpenGateExporter(
        client,
        args.organization,
        datastreams,
        exposition,
        workers=args.workers,
        cycle_deadline=cycle_deadline,
    )
    server = ExporterServer(exposition, host, port, title="smmc OpenGate exporter").start()
    poller = Poller("opengate", exporter.poll, interval, on_failure=exporter.on_failure).start()
    log.info(
        "polling %s (organization %s) every %.0fs; serving http://%s:%d/metrics",
        redact_url(args.url),
        args.organization,
        interval,
        host,
        server.port,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    poller.stop()
    server.stop()
    exporter.close()
    return 0
