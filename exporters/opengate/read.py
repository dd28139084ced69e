"""A small client for OpenGate's North search API: `X-ApiKey`, 1-based page numbers, 204 as the end.

Retries, backoff, Retry-After and the 401/403 rule come from `exporters.core.poller`; this module adds
what is particular to OpenGate: the paths, the paging loop and the checks on each page's body.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
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


class NorthClient:
    """Pages through a North API search and returns every row.

    `on_response(endpoint, response)` sees every HTTP response, retries included (for request counters).
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
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page size must be between 1 and {MAX_PAGE_SIZE}")
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.policy = policy
        self.max_pages = max_pages
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

    def search(self, endpoint: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """All rows of a search: pages 1, 2, ... until HTTP 204, an empty page, or `page.of` reached."""
        path, key = ENDPOINTS[endpoint]
        url = f"{SEARCH_PREFIX}{path}"
        params = {"flattened": "false", "utc": "true"}
        rows: list[dict[str, Any]] = []
        for page in range(1, self.max_pages + 1):
            payload = dict(body, limit={"size": self.page_size, "start": page})
            response = request_with_retry(
                self._http,
                "POST",
                url,
                policy=self.policy,
                sleep=self._sleep,
                on_response=self._counter(url),
                params=params,
                content=json.dumps(payload),
            )
            if response.status_code == 204 or not response.content.strip():
                return rows
            if response.status_code != 200:
                raise FetchError(
                    f"http_{response.status_code}",
                    f"POST {url} page {page}: HTTP {response.status_code}: {_error_text(response)}",
                )
            page_rows, number, of = _parse_page(response, key, url, page)
            if number is not None and number != page:
                raise FetchError("paging", f"POST {url}: asked for page {page}, got page {number}")
            if not page_rows:
                return rows
            rows.extend(page_rows)
            if of is not None and page >= of:
                return rows
        raise FetchError("paging", f"POST {url}: more than {self.max_pages} pages, stopped")


def _parse_page(
    response: httpx.Response, key: str, url: str, page: int
) -> tuple[list[dict[str, Any]], int | None, int | None]:
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FetchError("malformed_json", f"POST {url} page {page}: body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise FetchError("malformed_json", f"POST {url} page {page}: body is not a JSON object")
    rows = data.get(key) or []
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise FetchError("malformed_json", f"POST {url} page {page}: {key!r} is not a list of objects")
    info = data.get("page") if isinstance(data.get("page"), dict) else {}
    number = info.get("number") if isinstance(info.get("number"), int) else None
    of = info.get("of") if isinstance(info.get("of"), int) else None
    return rows, number, of


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
