"""request_with_retry, Poller and PollingSource: retries, Retry-After, auth errors, a poller that never
dies, a polled source's own health."""

from __future__ import annotations

import httpx
import pytest

from exporters.core.exposition import Exposition, MetricFamily, gauge
from exporters.core.poller import (
    AuthError,
    FetchError,
    Poller,
    PollHealth,
    PollingSource,
    RetryPolicy,
    request_with_retry,
    retry_after_seconds,
)


def client_for(responses: list) -> tuple[httpx.Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = responses.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def test_retries_5xx_then_succeeds_with_backoff() -> None:
    client, seen = client_for([httpx.Response(500), httpx.Response(502), httpx.Response(200, json={"ok": 1})])
    sleeps: list[float] = []
    response = request_with_retry(client, "GET", "http://x/", sleep=sleeps.append)
    assert response.json() == {"ok": 1} and len(seen) == 3
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] >= 0.5


def test_429_honours_retry_after() -> None:
    client, _ = client_for([httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(204)])
    sleeps: list[float] = []
    assert request_with_retry(client, "GET", "http://x/", sleep=sleeps.append).status_code == 204
    assert 7 <= sleeps[0] <= 7.8


def test_auth_errors_are_not_retried() -> None:
    client, seen = client_for([httpx.Response(401), httpx.Response(200)])
    with pytest.raises(AuthError) as info:
        request_with_retry(client, "GET", "http://x/", sleep=lambda s: None)
    assert info.value.status == 401 and info.value.reason == "http_401" and len(seen) == 1


def test_transport_errors_exhaust_retries() -> None:
    errors = [httpx.ConnectError("refused")] * 3
    client, seen = client_for(list(errors))
    with pytest.raises(FetchError) as info:
        request_with_retry(client, "GET", "http://x/", policy=RetryPolicy(attempts=3), sleep=lambda s: None)
    assert info.value.reason == "transport" and len(seen) == 3
    client, _ = client_for([httpx.ReadTimeout("slow")])
    with pytest.raises(FetchError) as info:
        request_with_retry(client, "GET", "http://x/", policy=RetryPolicy(attempts=1), sleep=lambda s: None)
    assert info.value.reason == "timeout"


def test_client_errors_are_returned_to_the_caller() -> None:
    client, _ = client_for([httpx.Response(404)])
    assert request_with_retry(client, "GET", "http://x/", sleep=lambda s: None).status_code == 404


def test_retry_after_forms() -> None:
    assert retry_after_seconds("12") == 12
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470) == 10
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_poller_survives_failures_and_backs_off_on_auth() -> None:
    calls: list[str] = []
    failures: list[Exception] = []
    plan = [RuntimeError("boom"), AuthError(403, "nope"), None]

    def poll() -> None:
        item = plan.pop(0)
        calls.append(type(item).__name__)
        if item is not None:
            raise item

    poller = Poller("t", poll, interval=10, on_failure=failures.append)
    assert poller.run_once() == 10
    assert poller.run_once() == 50
    assert poller.run_once() == 10
    assert calls == ["RuntimeError", "AuthError", "NoneType"] and len(failures) == 2


def test_poller_thread_starts_and_stops() -> None:
    import threading

    ran = threading.Event()
    poller = Poller("t", ran.set, interval=0.05).start()
    assert ran.wait(2)
    poller.stop()
    assert poller.cycles >= 1


def _health_families(health: PollHealth) -> list[MetricFamily]:
    up, polls = gauge("src_up", "up"), gauge("src_polls", "polls")
    failures = gauge("src_failures", "failures", ("reason",))
    up.add((), health.up)
    polls.add((), health.polls)
    failures.add_many(((reason,), n) for reason, n in sorted(health.failures.items()))
    return [up, polls, failures]


def test_polling_source_records_and_publishes_its_health() -> None:
    exposition = Exposition()
    source = PollingSource(exposition, "src_health", _health_families)
    assert b"src_up 0" in exposition.body() and b"src_polls 0" in exposition.body()
    source.count_response("/api/x", httpx.Response(503))
    with pytest.raises(FetchError), source.poll_cycle():
        raise FetchError("http_503", "down")
    assert source.health.polls == 1 and source.health.poll_duration is not None
    source.on_failure(FetchError("http_503", "down"))
    assert b'src_failures{reason="http_503"} 1' in exposition.body() and b"src_up 0" in exposition.body()
    with source.poll_cycle():
        pass
    source.poll_succeeded(1234.0)
    assert source.health.last_success == 1234.0 and source.health.requests == {("/api/x", "503"): 1}
    assert b"src_up 1" in exposition.body() and b"src_polls 2" in exposition.body()
