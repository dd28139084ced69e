"""`smmc exporter smmeplus`: SMMePlus head-end files (SWE, HPE, LPE, CSW, work orders, status words) as
Prometheus metrics. Every option also comes from an environment variable SMMC_SMMEPLUS_<OPTION>."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path

from exporters.core.inbox import (
    DEFAULT_INCOMPLETE_GRACE_SECONDS,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_LINE_BYTES,
)
from smmc.catalogs import CatalogError
from smmc.options import OptionParser, fail, log_level, non_negative_int, positive_int

from .exporter import Exporter
from .fold import DEFAULT_PER_METER_SERIES_LIMIT
from .shard import Shard

log = logging.getLogger("smmc.exporter.smmeplus")

DEFAULT_PORT = 9810
ENV_PREFIX = "SMMC_SMMEPLUS_"
PROG = "smmc exporter smmeplus"


def build_parser() -> OptionParser:
    p = OptionParser(
        prog="smmc exporter smmeplus",
        env_prefix=ENV_PREFIX,
        description="Export the SMMePlus head-end's daily files as Prometheus metrics. "
        "Files are dropped into the inbox (write under a temporary name, then rename; see docs/ingest.md).",
    )
    p.add_argument("--inbox", required=True, help="directory the head-end files land in (must exist)")
    p.add_argument(
        "--create-inbox",
        action="store_true",
        help="create the inbox when it does not exist (else a missing inbox is an error: a typo would "
        "give a healthy exporter with no data)",
    )
    p.add_argument("--inventory", help="directory with concentrators.csv and meters.csv, or one such file")
    p.add_argument("--state-dir", help="ledger and processed files (default: <inbox>/.smmc-state)")
    p.add_argument("--listen", default=f"0.0.0.0:{DEFAULT_PORT}", help="host:port")
    p.add_argument(
        "--per-meter-series-limit",
        type=non_negative_int,
        default=DEFAULT_PER_METER_SERIES_LIMIT,
        help="most smmc_meter_flag_active series exposed",
    )
    p.add_argument(
        "--settle-seconds",
        type=float,
        default=2.0,
        help="a file written in place is read once unchanged for this long",
    )
    p.add_argument("--scan-interval", type=float, default=2.0, help="seconds between inbox scans")
    p.add_argument(
        "--incomplete-grace-seconds",
        type=float,
        default=DEFAULT_INCOMPLETE_GRACE_SECONDS,
        help="a file whose last line has no line break waits this long after its last change for the "
        "rest, then is set aside whole",
    )
    p.add_argument(
        "--shard",
        default="",
        metavar="I/N",
        help="expose only the concentrators whose id hashes (crc32) to shard I of N, and the rows without "
        "a concentrator when I is 0; N exporters with I = 0..N-1 split the fleet",
    )
    p.add_argument(
        "--inbox-mode",
        choices=("consume", "shared"),
        help="consume: move each file out of the inbox once taken; shared: leave files in place (several "
        "shards read one inbox). Default: shared with --shard I/N where N > 1, else consume",
    )
    p.add_argument(
        "--max-file-bytes",
        type=positive_int,
        default=DEFAULT_MAX_FILE_BYTES,
        help="a larger file is set aside unread (reason file_too_large); memory while ingesting is "
        "about 8x the file's size",
    )
    p.add_argument(
        "--max-line-bytes",
        type=positive_int,
        default=DEFAULT_MAX_LINE_BYTES,
        help="a file with a longer line is set aside unparsed (reason line_too_long)",
    )
    p.add_argument(
        "--once",
        action="store_true",
        help="ingest what the inbox holds, print the exposition to stdout and exit",
    )
    p.add_argument("--log-level", type=log_level, default="INFO", help="logging level")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    inbox = Path(args.inbox)
    if not inbox.is_dir():
        if inbox.exists():
            return fail(PROG, f"--inbox {inbox}: not a directory")
        if not args.create_inbox:
            return fail(PROG, f"--inbox {inbox}: no such directory (check the path, or pass --create-inbox)")
        try:
            inbox.mkdir(parents=True)
        except OSError as exc:
            return fail(PROG, f"--inbox {inbox}: cannot create it ({exc.strerror})")
    if args.inventory and not Path(args.inventory).exists():
        return fail(PROG, f"--inventory {args.inventory}: no such file or directory")
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
            args.max_file_bytes,
            args.max_line_bytes,
            args.incomplete_grace_seconds,
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
