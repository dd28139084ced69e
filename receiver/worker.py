"""The outbox worker: claim due actions, pass the safety gates, dispatch, record the outcome.

Crash safety: an action is claimed with a lease; a worker killed mid-dispatch leaves it `dispatching`
until the lease expires (or the receiver restarts and reclaims it), and the adapters are idempotent
towards their systems, so the re-run neither loses nor doubles the action.

Ordering: the dispatch threads of one process never work on two actions with the same correlation key
at once (the JIRA adapter's search-then-create and the cooldown gate are check-then-act), and a
resolution waits until the firing action of its episode is no longer in the outbox, so it finds the
ticket that action opens.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from zlib import crc32

from receiver import keys
from receiver.adapters import AdapterError, Outcome
from receiver.config import Config
from receiver.metrics import ReceiverMetrics
from receiver.store import ActionRow, Store

log = logging.getLogger("smmc.receiver.worker")
KEY_LOCK_STRIPES = 64


class Adapter(Protocol):
    def dispatch(self, action: ActionRow, context: dict[str, Any]) -> Outcome: ...

    def preview(self, action: ActionRow) -> dict[str, Any]:
        """What `dispatch` would send (recorded instead of sending when the action type is in dry-run)."""
        ...


@dataclass(eq=False)
class OutboxWorker:
    config: Config
    store: Store
    adapters: dict[str, Adapter]
    metrics: ReceiverMetrics
    clock: Callable[[], float] = time.time
    batch: int = 1
    threads: int = 2
    reclaim_on_start: bool = True

    def __post_init__(self) -> None:
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._key_locks = [threading.Lock() for _ in range(KEY_LOCK_STRIPES)]
        self.iteration_failures = 0
        self._last_failure: str | None = None
        self._log_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.reclaim_on_start:
            self.reclaim_abandoned()
        self._stop.clear()
        for i in range(self.threads):
            t = threading.Thread(target=self._loop, name=f"smmc-outbox-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    def alive(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def wake(self) -> None:
        self._wake.set()

    def reclaim_abandoned(self) -> int:
        """At start: actions a previous process left `dispatching` become due now (this process owns the
        database file; with PostgreSQL and several replicas, only expired leases are reclaimed)."""
        if self.store.engine != "sqlite":
            return 0
        return self.store.reclaim_abandoned(self.clock())

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                done = self.run_once()
            except Exception as exc:
                self._iteration_failed(exc)
                done = 0
            else:
                self._iteration_succeeded()
            if done == 0:
                self._wake.wait(self.config.worker.poll_interval_seconds)
                self._wake.clear()

    def _iteration_failed(self, exc: Exception) -> None:
        """Log a failing pass once per distinct error (a full disk would otherwise log every pass)."""
        message = f"{type(exc).__name__}: {exc}"
        with self._log_lock:
            self.iteration_failures += 1
            repeated = message == self._last_failure
            self._last_failure = message
        if not repeated:
            log.error(
                "outbox worker iteration failed (logged once until it changes): %s", message, exc_info=exc
            )

    def _iteration_succeeded(self) -> None:
        with self._log_lock:
            failed, self._last_failure = self._last_failure, None
        if failed is not None:
            log.info("outbox worker iterations succeed again")

    # -- one pass ----------------------------------------------------------------------------------------
    def run_once(self) -> int:
        claimed = self.store.claim_due(self.clock(), self.config.worker.lease_seconds, self.batch)
        for action in claimed:
            self.process(action)
        return len(claimed)

    def drain(self, max_rounds: int = 1000) -> int:
        """Process until nothing is due (tests and the benchmark); returns how many were processed."""
        total = 0
        for _ in range(max_rounds):
            n = self.run_once()
            if n == 0:
                break
            total += n
        return total

    def process(self, action: ActionRow) -> None:
        stripe = crc32(action.correlation_key.encode()) % KEY_LOCK_STRIPES
        with self._key_locks[stripe]:
            self._process(action)

    def _process(self, action: ActionRow) -> None:
        now = self.clock()
        if action.phase == "resolve":
            wait = self._fire_still_open(action, now)
            if wait is not None:
                self._defer(action, *wait, now)
                return
        type_cfg = self.config.action_types[action.action]
        context: dict[str, Any] = {}
        if action.phase == "storm":
            context = self._storm_context(action)
        adapter = self.adapters.get(action.action)
        if adapter is None:
            self._finish(action, "failed", None, {"error": f"no adapter for {action.action}"}, now)
            return
        if type_cfg.dry_run or action.dry_run:
            self._finish(action, "dry_run", None, {"would_send": adapter.preview(action)}, now)
            return
        if action.phase in ("fire", "storm"):
            gate = self._gate(action, now)
            if gate is not None:
                self._finish(action, "suppressed", None, gate, now)
                return
        started = time.perf_counter()
        try:
            outcome = adapter.dispatch(action, context)
        except AdapterError as exc:
            outcome = Outcome(
                "retry" if exc.retryable else "failed",
                None,
                {"error": str(exc), "http_status": exc.status},
                exc.retry_after,
            )
        except Exception as exc:  # a bug or an unexpected answer: retry, never drop
            log.exception("dispatch of action %s raised", action.id)
            outcome = Outcome("retry", None, {"error": f"{type(exc).__name__}: {exc}"})
        self.metrics.dispatch_seconds.labels(action.action).observe(time.perf_counter() - started)
        now = self.clock()
        if outcome.result == "success":
            self._finish(action, "succeeded", outcome.external_id, outcome.detail, now)
        elif outcome.result == "retry" and action.attempts < self.config.worker.max_attempts:
            self._retry(action, outcome, now)
        elif outcome.result == "retry":
            detail = {**outcome.detail, "gave_up_after_attempts": action.attempts}
            self._finish(action, "failed", None, detail, now)
        else:
            self._finish(action, "failed", None, outcome.detail, now)

    def _fire_still_open(self, action: ActionRow, now: float) -> tuple[float, dict[str, Any]] | None:
        """(when to look again, why) while the episode's firing action is still to be dispatched."""
        fire = self.store.action_by_key(keys.fire_key(action))
        if fire is None or fire.status not in ("pending", "retry", "dispatching"):
            return None
        step = max(1.0, self.config.worker.poll_interval_seconds)
        until = now + step if fire.status == "dispatching" else max(fire.next_attempt_at, now) + step
        return until, {"reason": "fire_action_open", "fire_action_id": fire.id, "fire_status": fire.status}

    def _defer(self, action: ActionRow, until: float, detail: dict[str, Any], now: float) -> None:
        """Put the action back as if it had not been claimed (no attempt used), due at `until`."""
        with self.store.transaction() as tx:
            if not tx.is_claimed(action):
                return
            tx.defer(action.id, until, now)
            tx.ledger("deferred", {**detail, "until": until}, now, action_id=action.id)

    # -- gates ---------------------------------------------------------------------------------------------
    def _gate(self, action: ActionRow, now: float) -> dict[str, Any] | None:
        cfg = self.config.action_types[action.action]
        with self.store.transaction() as tx:
            if cfg.cooldown_seconds > 0 and action.phase == "fire":
                previous = tx.last_success_since(action, now - cfg.cooldown_seconds)
                if previous is not None:
                    return {
                        "reason": "cooldown",
                        "cooldown_seconds": cfg.cooldown_seconds,
                        "previous_action_id": previous,
                    }
            if cfg.max_per_hour is not None:
                count = tx.succeeded_since(action.action, now - 3600)
                if count >= cfg.max_per_hour:
                    return {"reason": "hourly_budget", "max_per_hour": cfg.max_per_hour, "last_hour": count}
        return None

    def _storm_context(self, action: ActionRow) -> dict[str, Any]:
        children, count = self.store.storm_children(action.id, limit=500)
        return {"storm_children": children, "storm_count": count}

    # -- outcomes ------------------------------------------------------------------------------------------

    def _finish(
        self, action: ActionRow, status: str, external_id: str | None, detail: dict[str, Any], now: float
    ) -> None:
        with self.store.transaction() as tx:
            if not tx.is_claimed(action):
                tx.ledger(
                    "stale_result_discarded",
                    {"status": status, "external_id": external_id, **detail},
                    now,
                    action_id=action.id,
                )
                return
            tx.finish(action.id, status, external_id, detail.get("error"), now)
            tx.ledger(
                status,
                {"external_id": external_id, "attempt": action.attempts, **detail},
                now,
                action_id=action.id,
            )
            if status == "succeeded":
                tx.set_state("last_dispatch_success", now)
        result = {"succeeded": "success"}.get(status, status)
        self.metrics.actions.labels(action.action, result).inc()

    def _retry(self, action: ActionRow, outcome: Outcome, now: float) -> None:
        w = self.config.worker
        backoff = min(w.backoff_max_seconds, w.backoff_initial_seconds * 2 ** max(0, action.attempts - 1))
        backoff *= random.uniform(0.8, 1.2)  # jitter: many actions failing together do not retry together
        delay = max(backoff, outcome.retry_after or 0.0)
        with self.store.transaction() as tx:
            if not tx.is_claimed(action):
                return
            tx.schedule_retry(action.id, now + delay, outcome.detail.get("error"), now)
            tx.ledger(
                "retry_scheduled",
                {
                    "attempt": action.attempts,
                    "delay_seconds": round(delay, 3),
                    "retry_after": outcome.retry_after,
                    **outcome.detail,
                },
                now,
                action_id=action.id,
            )
        self.metrics.actions.labels(action.action, "retry").inc()
