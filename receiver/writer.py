"""Group commit for the intake: webhook handlers hand their notification to one writer thread, which
writes everything that arrived meanwhile in one transaction (a savepoint per notification) and answers
each handler only after the commit. One fsync then covers many notifications under load."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from receiver.config import Config
from receiver.intake import IntakeResult, ingest
from receiver.metrics import ReceiverMetrics
from receiver.payload import Notification
from receiver.store import Store, StoreError

log = logging.getLogger(__name__)


@dataclass
class _Item:
    notification: Notification
    body: bytes
    future: Future[IntakeResult]
    arrived: float


@dataclass(eq=False)
class IntakeWriter:
    config: Config
    store: Store
    metrics: ReceiverMetrics
    on_commit: Callable[[], None] = lambda: None
    max_batch: int = 128
    clock: Callable[[], float] = time.time
    max_batch_alerts: int = 2000

    def __post_init__(self) -> None:
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="smmc-intake-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def submit(self, notification: Notification, body: bytes) -> Future[IntakeResult]:
        future: Future[IntakeResult] = Future()
        if not self.alive():
            # nobody would ever answer: the handler says 503 at once and Alertmanager retries
            future.set_exception(StoreError("the intake writer is not running"))
            return future
        self._queue.put(_Item(notification, body, future, time.perf_counter()))
        return future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            alerts = len(first.notification.alerts)
            stopping = False
            # bounded by notifications and by alerts: a large notification commits with few others, so
            # the small ones queued behind it wait for one bounded transaction, not for a pile of them
            while len(batch) < self.max_batch and alerts < self.max_batch_alerts:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
                alerts += len(nxt.notification.alerts)
            try:
                self._write(batch)
            except Exception as exc:  # the writer outlives any one batch; its handlers get 503
                log.exception("intake writer: a batch failed")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(StoreError(f"{type(exc).__name__}: {exc}"))
            if stopping:
                return

    def _write(self, batch: list[_Item]) -> None:
        results: list[IntakeResult | BaseException] = []
        try:
            with self.store.transaction() as tx:
                now = self.clock()
                for item in batch:
                    try:
                        with tx.savepoint():
                            results.append(ingest(tx, self.config, item.notification, item.body, now))
                    except Exception as exc:  # this notification only: the others still commit
                        results.append(exc)
        except Exception as exc:
            error = exc if isinstance(exc, StoreError) else StoreError(str(exc))
            for item in batch:
                item.future.set_exception(error)
            return
        done = time.perf_counter()
        for item, result in zip(batch, results, strict=True):
            self.metrics.intake_seconds.observe(done - item.arrived)
            if isinstance(result, BaseException):
                item.future.set_exception(StoreError(f"{type(result).__name__}: {result}"))
            else:
                item.future.set_result(result)
        self.on_commit()
