"""`smmc exporter smmeplus`: SMMePlus head-end files (SWE, HPE, LPE, CSW, work orders, status words) as
Prometheus metrics. Every option also comes from an environment variable SMMC_SMMEPLUS_<OPTION>."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from smmc.catalogs import CatalogError

from .exporter import Exporter
from .fold import DEFAULT_PER_METER_SERIES_LIMIT
from .shard import Shard

log = logging.getLogger("smmc.exporter.smmeplus")

DEFAULT_PORT = 9810
ENV_PREFIX = "SMMC_SMMEPLUS_"


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV_PREFIX + name, default)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="smmc exporter smmeplus",
        description="Export the SMMePlus head-end's daily files as Prometheus metrics. "
        "Files are dropped into the inbox (write under a temporary name, then rename; see docs/ingest.md).",
    )
    p.add_argument("--inbox", default=_env("INBOX"), help="directory the head-end files land in [INBOX]")
    p.add_argument(
        "--inventory",
        default=_env("INVENTORY"),
        help="directory with concentrators.csv and meters.csv, or one such file [INVENTORY]",
    )
    p.add_argument(
        "--state-dir",
        default=_env("STATE_DIR"),
        help="ledger and processed files (default: <inbox>/.smmc-state) [STATE_DIR]",
    )
    p.add_argument("--listen", default=_env("LISTEN", f"0.0.0.0:{DEFAULT_PORT}"), help="host:port [LISTEN]")
    p.add_argument(
        "--per-meter-series-limit",
        type=int,
        default=int(_env("PER_METER_SERIES_LIMIT", str(DEFAULT_PER_METER_SERIES_LIMIT))),
        help="most smmc_meter_flag_active series exposed [PER_METER_SERIES_LIMIT]",
    )
    p.add_argument(
        "--settle-seconds",
        type=float,
        default=float(_env("SETTLE_SECONDS", "2")),
        help="a file written in place is read once unchanged for this long [SETTLE_SECONDS]",
    )
    p.add_argument(
        "--scan-interval",
        type=float,
        default=float(_env("SCAN_INTERVAL", "2")),
        help="seconds between inbox scans [SCAN_INTERVAL]",
    )
    p.add_argument(
        "--shard",
        default=_env("SHARD", ""),
        metavar="I/N",
        help="expose only the concentrators whose id hashes (crc32) to shard I of N, and the rows without "
        "a concentrator when I is 0; N exporters with I = 0..N-1 split the fleet [SHARD]",
    )
    p.add_argument(
        "--inbox-mode",
        choices=("consume", "shared"),
        default=_env("INBOX_MODE"),
        help="consume: move each file out of the inbox once taken; shared: leave files in place (several "
        "shards read one inbox). Default: shared with --shard I/N where N > 1, else consume [INBOX_MODE]",
    )
    p.add_argument(
        "--once",
        action="store_true",
        default=_env("ONCE", "") in ("1", "true", "yes"),
        help="ingest what the inbox holds, print the exposition to stdout and exit [ONCE]",
    )
    p.add_argument("--log-level", default=_env("LOG_LEVEL", "INFO"), help="[LOG_LEVEL]")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.inbox:
        print("smmc exporter smmeplus: --inbox (or SMMC_SMMEPLUS_INBOX) is required", file=sys.stderr)
        return 2
    if args.per_meter_series_limit < 0:
        print("smmc exporter smmeplus: --per-meter-series-limit must be >= 0", file=sys.stderr)
        return 2
    try:
        shard = Shard.parse(args.shard)
    except ValueError as exc:
        print(f"smmc exporter smmeplus: --shard: {exc}", file=sys.stderr)
        return 2
    try:
        exporter = Exporter(
            Path(args.inbox),
            Path(args.state_dir) if args.state_dir else None,
            Path(args.inventory) if args.inventory else None,
            args.per_meter_series_limit,
            0.0 if args.once else args.settle_seconds,
            shard,
            None if args.inbox_mode is None else args.inbox_mode == "shared",
        )
    except CatalogError as exc:
        print(f"smmc exporter smmeplus: catalog error: {exc}", file=sys.stderr)
        return 2
    if args.once:
        exporter.restore()
        exporter.scan()
        sys.stdout.buffer.write(exporter.exposition.body())
        return 0
    from exporters.core.server import ExporterServer, parse_listen  # not needed by --once

    try:
        host, port = parse_listen(args.listen, DEFAULT_PORT)
    except ValueError as exc:
        print(f"smmc exporter smmeplus: {exc}", file=sys.stderr)
        return 2
    server = ExporterServer(
        exporter.exposition, host, port, title="smmc SMMePlus exporter", ready=exporter.ready.is_set
    ).start()
    log.info("listening on %s:%d; inbox %s; shard %s", host, server.port, args.inbox, shard)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    replayed = exporter.restore()
    log.info("state restored (replayed: %s)", ", ".join(replayed) or "nothing")
    exporter.run(stop, args.scan_interval)
    server.stop()
    exporter.inbox.ledger.close()
    return 0
