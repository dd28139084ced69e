"""A small client for OpenGate's North search API: `X-ApiKey`, 1-based page numbers, 204 (or an empty
page) as the end, every answer bounded in time and size.

Retries, backoff, Retry-After and the 401/403 rule come from `exporters.core.poller`; this module adds
what is particular to OpenGate: the paths, the paging loop and the checks on each page's body.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from exporters.core.poller import FetchError, RetryPolicy, request_with_retry

SEARCH_PREFIX = "/north/v80/search"
ENDPOINTS = {
    # endpoint -> (path under /north/v80/search, the response's array key)
    "entities": ("/entities", "entities"),
    "alarms": ("/entities/alarms", "alarms"),
}
MAX_PAGE_SIZE = 1000
DEFAULT_POLICY = RetryPolicy()
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024  # a full page of 1,000 devices is about 3 MB
DEFAULT_FLEET_GROWTH = 2.0
DEFAULT_MIN_PAGES = 10


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    last: bool  # nothing after it: a 204, a well-formed empty page, or page.of reached


def read_page(status: int, content: bytes, key: str, page: int, page_size: int, where: str = "") -> Page:
    """One answer of a paged search: a page, the end, or `FetchError` (the cycle fails).

    Only a 204 or a well-formed page ends the paging: a 200 whose body is a JSON object with `key` a list
    of at most `page_size` objects (and `page.number`, when given, the page asked for). The page is the
    last when it holds no row or when `page.of` says so; a short page is not taken as the end (a server
    that caps the page size lower than asked would otherwise cut the fleet), the next page's 204 is. An
    empty 200, a redirect, a 404 or any other answer is a failure, never "no more data": a fleet that
    vanished because of a proxy's error page would page the NOC for nothing."""
    where = where or f"page {page}"
    if status == 204:
        return Page([], last=True)
    if status != 200:
        raise FetchError(f"http_{status}", f"{where}: HTTP {status}")
    if not content.strip():
        raise FetchError("empty_body", f"{where}: HTTP 200 with an empty body (only 204 ends the paging)")
    try:
        data = json.loads(content)
    except (ValueError, RecursionError) as exc:
        raise FetchError("malformed_json", f"{where}: body is not JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise FetchError("malformed_json", f"{where}: body is not a JSON object")
    rows = data.get(key)
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise FetchError("malformed_json", f"{where}: {key!r} is missing or not a list of objects")
    if len(rows) > page_size:
        raise FetchError("paging", f"{where}: {len(rows)} rows on a page of {page_size}")
    info = data.get("page") if isinstance(data.get("page"), dict) else {}
    number = info.get("number")
    of = info.get("of")
    if isinstance(number, int) and not isinstance(number, bool) and number != page:
        raise FetchError("paging", f"{where}: asked for page {page}, got page {number}")
    last = not rows or (isinstance(of, int) and not isinstance(of, bool) and page >= of)
    return Page(rows, last)


class _Bounded:
    """What `request_with_retry` calls: one request whose answer is read within a deadline and a size."""

    def __init__(self, http: httpx.Client, max_bytes: int, deadline: float) -> None:
        self.http = http
        self.max_bytes = max_bytes
        self.deadline = deadline

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if self.remaining() <= 0:
            raise FetchError("deadline", f"{method} {url}: the poll cycle's deadline passed")
        base = self.http.timeout
        if math.isfinite(self.deadline):  # no single wait may pass the deadline either
            cap = max(0.001, self.remaining())
            fit = [
                min(t, cap) if t is not None else cap
                for t in (base.connect, base.read, base.write, base.pool)
            ]
            kwargs["timeout"] = httpx.Timeout(connect=fit[0], read=fit[1], write=fit[2], pool=fit[3])
        request = self.http.build_request(method, url, **kwargs)
        response = self.http.send(request, stream=True)
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise FetchError("too_large", f"{method} {url}: {declared} bytes, above {self.max_bytes}")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise FetchError("too_large", f"{method} {url}: more than {self.max_bytes} bytes")
                if self.remaining() <= 0:
                    raise FetchError("deadline", f"{method} {url}: still reading when the deadline passed")
                chunks.append(chunk)
        finally:
            response.close()
        headers = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            response.status_code, headers=headers, content=b"".join(chunks), request=request
        )

    def sleep(self, seconds: float, sleep: Callable[[float], None]) -> None:
        if seconds >= self.remaining():
            raise FetchError("deadline", "the poll cycle's deadline passes before the next retry")
        sleep(seconds)


class NorthClient:
    """Pages through a North API search and returns every row.

    `on_response(endpoint, response)` sees every HTTP response, retries included (for request counters).
    Bounds: each answer is read within the cycle's deadline and `max_response_bytes`; a search reads at
    most `max_pages` pages and, once a search has succeeded, at most enough pages for `fleet_growth` times
    the rows it returned then (never fewer than `min_pages`). Beyond any bound the search fails.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        page_size: int = MAX_PAGE_SIZE,
        policy: RetryPolicy = DEFAULT_POLICY,
        on_response: Callable[[str, httpx.Response], None] | None = None,
        max_pages: int = 10_000,
        transport: httpx.BaseTransport | None = None,
        max_connections: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        fleet_growth: float = DEFAULT_FLEET_GROWTH,
        min_pages: int = DEFAULT_MIN_PAGES,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page size must be between 1 and {MAX_PAGE_SIZE}")
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.policy = policy
        self.max_pages = max_pages
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.fleet_growth = fleet_growth
        self.min_pages = min_pages
        self.rows_seen: dict[str, int] = {}  # search name -> rows of its last successful search
        self._sleep = sleep
        self.on_response = on_response
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={
                "X-ApiKey": api_key,
                "Accept": "application/json",
                "Content-Type": "application/json",
                "User-Agent": "smmc-opengate-exporter",
            },
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def _counter(self, url: str) -> Callable[[httpx.Response], None] | None:
        callback = self.on_response
        return None if callback is None else (lambda response: callback(url, response))

    def page_limit(self, name: str) -> int:
        """Pages one search may read: relative to the rows it returned last time, within `max_pages`."""
        seen = self.rows_seen.get(name)
        if seen is None:
            return self.max_pages
        expected = math.ceil(seen * self.fleet_growth / self.page_size) + 1  # +1: the closing 204
        return min(self.max_pages, max(self.min_pages, expected))

    def search(
        self,
        endpoint: str,
        body: dict[str, Any],
        *,
        name: str | None = None,
        deadline: float | None = None,
    ) -> list[dict[str, Any]]:
        """All rows of a search: pages 1, 2, ... until HTTP 204, an empty page, or `page.of` reached.
        `deadline` (time.monotonic()) bounds the whole search; `name` keys its page limit."""
        path, key = ENDPOINTS[endpoint]
        name = name or endpoint
        url = f"{SEARCH_PREFIX}{path}"
        params = {"flattened": "false", "utc": "true"}
        bounded = _Bounded(self._http, self.max_response_bytes, math.inf if deadline is None else deadline)
        limit = self.page_limit(name)
        rows: list[dict[str, Any]] = []
        for page in range(1, limit + 1):
            payload = dict(body, limit={"size": self.page_size, "start": page})
            response = request_with_retry(
                bounded,  # type: ignore[arg-type]
                "POST",
                url,
                policy=self.policy,
                sleep=lambda seconds: bounded.sleep(seconds, self._sleep),
                on_response=self._counter(url),
                params=params,
                content=json.dumps(payload),
            )
            where = f"POST {url} page {page}"
            if response.status_code not in (200, 204):
                raise FetchError(
                    f"http_{response.status_code}",
                    f"{where}: HTTP {response.status_code}: {_error_text(response)}",
                )
            found = read_page(response.status_code, response.content, key, page, self.page_size, where)
            rows.extend(found.rows)
            if found.last:
                self.rows_seen[name] = len(rows)
                return rows
        seen = self.rows_seen.get(name)
        grounds = f" ({seen} rows last time, growth {self.fleet_growth}x)" if seen is not None else ""
        raise FetchError("paging", f"POST {url}: more than {limit} pages{grounds}, stopped")


def _error_text(response: httpx.Response) -> str:
    """The message of OpenGate's error body (`{"errors":[{code,message}]}` or `{"message"}`), bounded."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return "; ".join(f"{e.get('code', '')} {e.get('message', '')}".strip() for e in errors[:3])
        if "message" in data:
            return str(data["message"])[:200]
    return response.text[:200]
