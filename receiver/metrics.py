"""The receiver's own metrics (names are a contract with the rules and dashboards; see docs/metrics.md)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from receiver.config import ACTION_TYPES
from receiver.store import Store

NOTIFICATION_STATUSES = ("accepted", "duplicate", "rejected")
ACTION_RESULTS = (
    "success",
    "failed",
    "retry",
    "dry_run",
    "suppressed",
    "awaiting_approval",
    "approved",
    "rejected",
    "recorded",
)

if TYPE_CHECKING:
    from receiver.health import StoreHealth


class _OutboxCollector(Collector):
    """Outbox gauges read from the store at scrape time, so they survive restarts and replicas agree."""

    def __init__(self, store: Store, metrics: ReceiverMetrics) -> None:
        self.store = store
        self.metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "smmc_receiver_store_up",
            "1 if the receiver's database answered this scrape and its latest commit (or probe write) "
            "succeeded.",
        )
        try:
            stats = self.store.outbox_stats(time.time())
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        health = self.metrics.store_health
        up.add_metric([], 1 if health is None or health.writable() else 0)
        yield up
        for name, key, text in (
            (
                "smmc_receiver_outbox_depth",
                "depth",
                "Actions waiting in the outbox (pending, retry, dispatching).",
            ),
            (
                "smmc_receiver_outbox_oldest_age_seconds",
                "oldest_age",
                "Age of the oldest action still waiting in the outbox (0 when empty).",
            ),
            (
                "smmc_receiver_actions_awaiting_approval",
                "awaiting_approval",
                "Actions held until a human approves them through the API.",
            ),
            (
                "smmc_receiver_last_dispatch_success_timestamp_seconds",
                "last_dispatch_success",
                "Unix time of the last action dispatched successfully (0 if never).",
            ),
            (
                "smmc_receiver_watchdog_last_seen_timestamp_seconds",
                "watchdog_last_seen",
                "Unix time the Watchdog (dead man's switch) notification was last received (0 if never).",
            ),
        ):
            g = GaugeMetricFamily(name, text)
            g.add_metric([], stats[key])
            yield g


class ReceiverMetrics:
    """Every label set of the counters is created at 0 up front (the receivers of the config, every action
    type and result): a label set that appeared with its first event would enter Prometheus at 1, which
    `increase()` reads as no increase."""

    def __init__(self, store: Store, receivers: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry()
        self.store_health: StoreHealth | None = None  # set by the app: commits, not reads, decide up
        self.notifications = Counter(
            "smmc_receiver_notifications_total",
            "Webhook notifications by receiver and outcome (accepted, duplicate, rejected).",
            ["receiver", "status"],
            registry=self.registry,
        )
        self.actions = Counter(
            "smmc_receiver_actions_total",
            "Action decisions by action type and result (success, failed, retry, dry_run, suppressed, "
            "awaiting_approval, approved, rejected, recorded).",
            ["action", "result"],
            registry=self.registry,
        )
        self.dispatch_seconds = Histogram(
            "smmc_receiver_dispatch_duration_seconds",
            "Time one dispatch to an external system took.",
            ["action"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.intake_seconds = Histogram(
            "smmc_receiver_intake_commit_duration_seconds",
            "Time from a webhook's arrival at the writer to its durable commit.",
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
        )
        self.store_errors = Counter(
            "smmc_receiver_store_errors_total",
            "Database errors (the webhook was answered 503).",
            registry=self.registry,
        )
        self.registry.register(_OutboxCollector(store, self))
        for receiver in (*receivers, "unknown"):
            for status in NOTIFICATION_STATUSES:
                self.notifications.labels(receiver, status)
        for action in ACTION_TYPES:
            self.dispatch_seconds.labels(action)
            for result in ACTION_RESULTS:
                self.actions.labels(action, result)
