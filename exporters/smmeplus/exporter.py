"""The SMMePlus exporter's wiring: catalogs, the source (read + fold + metrics), the inbox. Used by the
command (`cli.py`), the tests and the benchmarks."""

from __future__ import annotations

import threading
from pathlib import Path

from exporters.core.exposition import Exposition
from exporters.core.inbox import (
    DEFAULT_INCOMPLETE_GRACE_SECONDS,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_LINE_BYTES,
    FileRecord,
    Inbox,
)
from smmc.catalogs import load_catalogs

from .fold import DEFAULT_PER_METER_SERIES_LIMIT, SmmePlusSource
from .shard import Shard


class Exporter:
    """Catalogs, source and inbox: `restore()` once, then `scan()` or `run()` publish into `exposition`."""

    def __init__(
        self,
        inbox: Path,
        state_dir: Path | None = None,
        inventory: Path | None = None,
        per_meter_series_limit: int = DEFAULT_PER_METER_SERIES_LIMIT,
        settle_seconds: float = 2.0,
        shard: Shard | None = None,
        shared_inbox: bool | None = None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        incomplete_grace_seconds: float = DEFAULT_INCOMPLETE_GRACE_SECONDS,
    ) -> None:
        self.shard = shard or Shard()
        self.exposition = Exposition()
        self.source = SmmePlusSource(
            load_catalogs(),
            self.exposition,
            inventory,
            per_meter_series_limit=per_meter_series_limit,
            shard=self.shard,
        )
        if state_dir is None:
            name = (
                ".smmc-state"
                if self.shard.whole
                else f".smmc-state-shard-{self.shard.index}-of-{self.shard.count}"
            )
            state_dir = Path(inbox) / name
        self.inbox = Inbox(
            Path(inbox),
            Path(state_dir),
            self.source,
            settle_seconds,
            shared=(not self.shard.whole) if shared_inbox is None else shared_inbox,
            max_file_bytes=max_file_bytes,
            max_line_bytes=max_line_bytes,
            incomplete_grace_seconds=incomplete_grace_seconds,
            exposition=self.exposition,
        )
        self.ready = threading.Event()

    def restore(self) -> list[str]:
        """Inventory, then counters and the newest file of each kind, then the first publish."""
        self.source.refresh_inventory(force=True)
        replayed = self.inbox.restore()
        self.source.publish_all()
        # the restored counters are series Prometheus already has: shown at their values, not at 0 first
        self.exposition.baseline()
        self.ready.set()
        return replayed

    def scan(self) -> list[FileRecord]:
        self.source.refresh_inventory()
        return self.inbox.scan()

    def run(self, stop: threading.Event, interval: float) -> None:
        self.inbox.run(stop, interval, scan=self.scan)
