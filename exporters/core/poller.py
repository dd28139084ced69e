"""Background polling of an HTTP API or a file: interval, retries with backoff, Retry-After, last good data.

`request_with_retry` performs one logical request: transport errors, timeouts and 5xx are retried with
exponential backoff and jitter; 429 and 503 wait for `Retry-After`; 401/403 raise `AuthError` at once
(retrying a rejected credential only floods the API's logs). `Poller` runs a fetch function on an
interval in a thread; between failures the source keeps serving its last good state, so staleness is
visible in its timestamps and nothing resolves because the API blinked. `PollingSource` is the base of
such a source: it keeps the source's own health (`PollHealth`) and publishes it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from exporters.core.exposition import Exposition, MetricFamily
from smmc.redact import redact_text, redact_url
from smmc.retry_after import retry_after_seconds

log = logging.getLogger(__name__)

__all__ = [
    "AuthError",
    "FetchError",
    "PollHealth",
    "Poller",
    "PollingSource",
    "RetryPolicy",
    "request_with_retry",
    "retry_after_seconds",
]


@dataclass
class PollHealth:
    """What a polling exporter says of its own polls: up, last success, duration, and the requests and
    failures by kind (the `*_up`, `*_last_success_timestamp_seconds`, request and failure families)."""

    up: int = 0
    last_success: float | None = None
    poll_duration: float | None = None
    polls: int = 0
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)

    def succeeded(self, now: float) -> None:
        self.up = 1
        self.last_success = now

    def failed(self, exc: Exception) -> None:
        """Down, with the failure counted under its reason (a FetchError's, else the exception's name)."""
        self.up = 0
        self.failures[exc.reason if isinstance(exc, FetchError) else exc.__class__.__name__.lower()] += 1


class PollingSource:
    """The health bookkeeping of a source polled by a `Poller`, shared by the polling exporters.

    `count_response` is the API client's `on_response`; `poll_cycle()` wraps the work of one `poll()`
    (counts the cycle, times it, good or bad); `poll_succeeded(now)` ends a good cycle and `on_failure`
    (the `Poller`'s) records a bad one. The health is published as its own part of the exposition, built
    by `health_families`, at start and after every success or failure.
    """

    def __init__(
        self,
        exposition: Exposition,
        health_part: str,
        health_families: Callable[[PollHealth], list[MetricFamily]],
        health: PollHealth | None = None,
    ) -> None:
        self.exposition = exposition
        self.health = health or PollHealth()
        self._health_part = health_part
        self._health_families = health_families
        self._lock = threading.Lock()
        self.publish_health()

    def count_response(self, endpoint: str, response: httpx.Response) -> None:
        with self._lock:
            self.health.requests[(endpoint, str(response.status_code))] += 1

    @contextmanager
    def poll_cycle(self) -> Iterator[float]:
        """Counts a cycle and records its duration when it ends, however it ends; yields its start
        (`time.monotonic()`)."""
        started = time.monotonic()
        with self._lock:
            self.health.polls += 1
        try:
            yield started
        finally:
            with self._lock:
                self.health.poll_duration = time.monotonic() - started

    def poll_succeeded(self, now: float) -> None:
        with self._lock:
            self.health.succeeded(now)
        self.publish_health()

    def on_failure(self, exc: Exception) -> None:
        with self._lock:
            self.health.failed(exc)
        self.publish_health()

    def publish_health(self) -> None:
        with self._lock:
            families = self._health_families(self.health)
        self.exposition.publish(self._health_part, families)


class FetchError(Exception):
    """A poll failed; `reason` is a short, bounded label value (timeout, http_500, transport, ...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class AuthError(FetchError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"http_{status}", message)
        self.status = status


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    initial_backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 120.0


def request_with_retry(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    on_response: Callable[[httpx.Response], None] | None = None,
    **kwargs: object,
) -> httpx.Response:
    """One logical request with retries. Returns the first non-retryable response (2xx, 3xx, 4xx
    other than 401/403/429); raises `AuthError` on 401/403 and `FetchError` when retries run out."""
    backoff = policy.initial_backoff
    last: FetchError | None = None
    shown = redact_url(str(url))  # messages end up in logs: no userinfo or access_token in them
    for attempt in range(1, policy.attempts + 1):
        try:
            response = client.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.TimeoutException as exc:
            last = FetchError("timeout", f"{method} {shown}: timed out ({exc.__class__.__name__})")
            wait = backoff
        except httpx.TransportError as exc:
            last = FetchError("transport", f"{method} {shown}: {exc.__class__.__name__}: {exc}")
            wait = backoff
        else:
            if on_response is not None:
                on_response(response)
            status = response.status_code
            if status in (401, 403):
                raise AuthError(status, f"{method} {shown}: HTTP {status} (credentials rejected)")
            if status == 429 or status >= 500:
                last = FetchError(f"http_{status}", f"{method} {shown}: HTTP {status}")
                hinted = retry_after_seconds(response.headers.get("Retry-After"))
                wait = min(hinted, policy.max_retry_after) if hinted is not None else backoff
            else:
                return response
        if attempt < policy.attempts:
            sleep(wait * (1.0 + 0.1 * random.random()))
            backoff = min(backoff * 2, policy.max_backoff)
    assert last is not None
    raise last


class Poller:
    """Calls `poll()` every `interval` seconds in a daemon thread.

    `poll` does the whole cycle (fetch, fold, publish) and raises on failure; `on_failure` records it.
    After an `AuthError` the next try waits `auth_backoff` (default: 5 intervals), and the error is
    logged once per change of state, not once per cycle.
    """

    def __init__(
        self,
        name: str,
        poll: Callable[[], None],
        interval: float,
        on_failure: Callable[[Exception], None] | None = None,
        auth_backoff: float | None = None,
    ) -> None:
        self.name = name
        self._poll = poll
        self.interval = interval
        self._on_failure = on_failure
        self._auth_backoff = auth_backoff if auth_backoff is not None else interval * 5
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error: str | None = None
        self.cycles = 0

    def run_once(self) -> float:
        """One cycle; returns the delay before the next."""
        self.cycles += 1
        try:
            self._poll()
        except Exception as exc:  # the poller must outlive any failure of its source
            message = f"{exc.__class__.__name__}: {exc}"
            if message != self._last_error:
                log.error("%s: poll failed: %s", self.name, redact_text(message))
            self._last_error = message
            if self._on_failure is not None:
                try:
                    self._on_failure(exc)
                except Exception:
                    log.exception("%s: failure handler raised", self.name)
            return self._auth_backoff if isinstance(exc, AuthError) else self.interval
        if self._last_error is not None:
            log.info("%s: poll recovered", self.name)
        self._last_error = None
        return self.interval

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            delay = self.run_once()
            self._stop.wait(max(0.0, delay - (time.monotonic() - started)))

    def start(self) -> Poller:
        self._thread = threading.Thread(target=self._loop, name=f"poller-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
