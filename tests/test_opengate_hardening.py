"""OpenGate hardening (issue 15): only 204 or a well-formed page ends the paging, a cycle has a deadline,
answers and page counts are bounded. A scripted North API on 127.0.0.1 answers what each test needs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporters.core.exposition import Exposition
from exporters.core.poller import FetchError, RetryPolicy
from exporters.opengate.config import load_datastreams
from exporters.opengate.exporter import OpenGateExporter
from exporters.opengate.read import NorthClient, Page, read_page

# (status, headers, body, seconds between body bytes) for the page asked
Answer = tuple[int, dict[str, str], bytes, float]
QUICK = RetryPolicy(attempts=1)


def page(rows: int, number: int) -> bytes:
    return json.dumps({"page": {"number": number}, "entities": [{"id": i} for i in range(rows)]}).encode()


@contextmanager
def north(answer: Callable[[int], Answer]) -> Iterator[tuple[str, list[int]]]:
    """A North search endpoint that answers `answer(page)`; yields its URL and the pages asked."""
    asked: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            number = body["limit"]["start"]
            asked.append(number)
            status, headers, content, pause = answer(number)
            self.send_response(status)
            for k, v in {"Content-Length": str(len(content)), **headers}.items():
                self.send_header(k, v)
            self.end_headers()
            try:
                if pause:
                    for i in range(len(content)):
                        self.wfile.write(content[i : i + 1])
                        self.wfile.flush()
                        time.sleep(pause)
                else:
                    self.wfile.write(content)
            except OSError:
                pass  # the client gave up

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def client(url: str, **kwargs) -> NorthClient:
    return NorthClient(url, "test-key", page_size=4, timeout=5, policy=QUICK, **kwargs)


def pages_then(end: Answer, rows: int = 9) -> Callable[[int], Answer]:
    """`rows` rows in pages of 4, then `end` for the page after the last."""

    def answer(number: int) -> Answer:
        first = (number - 1) * 4
        if first < rows:
            return 200, {}, page(min(4, rows - first), number), 0.0
        return end

    return answer


def test_204_and_an_empty_page_end_the_paging() -> None:
    for end in [(204, {}, b"", 0.0), (200, {}, page(0, 4), 0.0)]:
        with north(pages_then(end)) as (url, asked):
            assert len(client(url).search("entities", {})) == 9 and asked == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("end", "reason"),
    [
        ((200, {}, b"", 0.0), "empty_body"),
        ((200, {}, b"   \n", 0.0), "empty_body"),
        ((302, {"Location": "http://127.0.0.1:9/login"}, b"", 0.0), "http_302"),
        ((404, {}, b"", 0.0), "http_404"),
        ((200, {}, b"null", 0.0), "malformed_json"),
        ((200, {}, b'{"page": {"number": 4}}', 0.0), "malformed_json"),
        ((200, {}, b"<html>proxy error</html>", 0.0), "malformed_json"),
    ],
)
def test_anything_else_fails_the_search(end: Answer, reason: str) -> None:
    with north(pages_then(end)) as (url, _asked), pytest.raises(FetchError) as failed:
        client(url).search("entities", {})
    assert failed.value.reason == reason


def test_a_cut_fleet_on_the_first_page_is_a_failed_cycle_not_an_empty_fleet() -> None:
    # the case: a 404 with an empty body where page 1 should be; today's code saw "no modems"
    with north(lambda number: (404, {}, b"", 0.0)) as (url, _asked), pytest.raises(FetchError) as failed:
        client(url).search("entities", {})
    assert failed.value.reason == "http_404"


def test_a_slow_server_cannot_hold_a_cycle_past_its_deadline() -> None:
    slow = page(4, 1)  # about 60 bytes at one byte every 0.1 s: 6 s, far past the 1 s deadline
    with north(lambda number: (200, {}, slow, 0.1)) as (url, asked), pytest.raises(FetchError) as failed:
        client(url).search("entities", {}, deadline=time.monotonic() + 1.0)
    assert failed.value.reason == "deadline" and asked == [1]


def test_an_exporter_cycle_past_its_deadline_fails_with_up_0() -> None:
    slow = page(4, 1)
    with north(lambda number: (200, {}, slow, 0.1)) as (url, _asked):
        exposition = Exposition()
        north_client = client(url)
        exporter = OpenGateExporter(north_client, "org", load_datastreams(), exposition, cycle_deadline=1.0)
        try:
            with pytest.raises(FetchError) as failed:
                exporter.poll()
            exporter.on_failure(failed.value)
        finally:
            exporter.close()
    body = exposition.body().decode()
    assert failed.value.reason == "deadline"
    assert "opengate_up 0" in body and 'opengate_poll_failures_total{reason="deadline"} 1' in body


def test_an_answer_above_the_size_cap_fails_without_being_kept() -> None:
    huge = page(4, 1) + b" " * 3_000_000
    with north(lambda number: (200, {}, huge, 0.0)) as (url, _asked), pytest.raises(FetchError) as failed:
        client(url, max_response_bytes=1_000_000).search("entities", {})
    assert failed.value.reason == "too_large"


def test_endless_full_pages_stop_at_the_cap_relative_to_the_fleet_seen_before() -> None:
    endless = {"on": False}

    def answer(number: int) -> Answer:
        if endless["on"]:
            return 200, {}, page(4, number), 0.0
        return pages_then((204, {}, b"", 0.0))(number)

    with north(answer) as (url, asked):
        north_client = client(url, fleet_growth=2.0, min_pages=3)
        assert len(north_client.search("entities", {}, name="devices")) == 9
        endless["on"] = True
        asked.clear()
        with pytest.raises(FetchError) as failed:
            north_client.search("entities", {}, name="devices")
    # 9 rows seen: at most 2 x 9 = 18 rows -> 5 pages of 4, plus the closing 204 -> 6 pages asked
    assert failed.value.reason == "paging" and len(asked) == 6 == north_client.page_limit("devices")


# -- property: any status and body make a page, the end, or a failure ------------------------------------

ROW = st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3)
BODIES = (
    st.binary(max_size=200)
    | st.builds(
        lambda rows, number, of, key: json.dumps(
            {key: rows, "page": {"number": number, "of": of}}, allow_nan=True
        ).encode(),
        st.lists(ROW | st.integers() | st.none(), max_size=6),
        st.integers(0, 4) | st.text(max_size=2) | st.none(),
        st.integers(0, 4) | st.floats() | st.none(),
        st.sampled_from(["entities", "alarms", "other"]),
    )
    | st.sampled_from([b"", b"null", b"[]", b"{}", b'{"entities": null}', b"[" * 5000, b"1" * 5000])
)


@settings(max_examples=400, deadline=None)
@given(status=st.integers(100, 599) | st.sampled_from([200, 204]), body=BODIES, number=st.integers(1, 4))
def test_the_page_reader_returns_a_page_or_fails_the_cycle(status: int, body: bytes, number: int) -> None:
    try:
        found = read_page(status, body, "entities", number, 4)
    except FetchError as exc:
        assert exc.reason and len(str(exc)) < 300
        return
    assert isinstance(found, Page) and len(found.rows) <= 4
    assert all(isinstance(r, dict) for r in found.rows)
    assert status in (200, 204) and (found.rows or found.last)
