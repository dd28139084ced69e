"""Can the store commit? The answer behind /readyz and `smmc_receiver_store_up`.

A database that still answers `SELECT 1` may refuse every write (disk full, a read-only file or
replica): reading is not the test. The outcome of the latest commit decides: each webhook's commit
reports here, and when none happened for `probe_interval` seconds a small probe write (one row of the
`state` table) is committed instead. A change of state is logged once, not once per failure.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from receiver.store import Store

log = logging.getLogger("smmc.receiver.health")


class StoreHealth:
    def __init__(
        self,
        store: Store,
        probe_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.probe_interval = probe_interval
        self._clock = clock
        self._wall = wall_clock
        self._lock = threading.Lock()
        self._probe_lock = threading.Lock()
        self._writable: bool | None = None
        self._checked_at = float("-inf")
        self.error = ""

    def record(self, ok: bool, error: str = "") -> None:
        """The outcome of a commit (a webhook's, or the probe's)."""
        with self._lock:
            self._checked_at = self._clock()
            before, self._writable = self._writable, ok
            self.error = "" if ok else error[:300]
        if ok and before is False:
            log.info("store: commits succeed again")
        elif not ok and before is not False:
            log.error("store: cannot commit: %s", self.error)

    def writable(self) -> bool:
        """True when the latest commit succeeded; probes when that is older than `probe_interval`."""
        with self._lock:
            fresh = self._clock() - self._checked_at < self.probe_interval
            known = self._writable
        if fresh and known is not None:
            return known
        with self._probe_lock:  # one probe at a time; the others take its answer
            with self._lock:
                if self._clock() - self._checked_at < self.probe_interval and self._writable is not None:
                    return self._writable
            try:
                self.store.probe_commit(self._wall())
            except Exception as exc:
                self.record(False, f"{type(exc).__name__}: {exc}")
                return False
            self.record(True)
            return True
