"""A read-only client for Cloudera Manager's REST API (`/api/vNN/...`), as the resource exporter uses it.

Cloudera Manager authenticates with HTTP Basic (the same users as its console) and answers with a session
cookie that later calls may send instead; httpx keeps the cookie. The API version is the one the server
names at `GET /api/version` (e.g. `v45`) unless one is given. Retries, backoff, Retry-After and the
401/403 rule come from `exporters.core.poller`; an error body is Cloudera Manager's
`{"message": ..., "causes": [...]}`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from exporters.core.poller import FetchError, RetryPolicy, request_with_retry

API_VERSION = re.compile(r"^v\d{1,3}$")
# endpoint label values of the request counter: bounded, never a cluster name
ENDPOINTS = ("version", "clusters", "services", "hosts", "timeseries")


class ManagerClient:
    """`on_response(endpoint, response)` sees every HTTP response, retries included (request counters)."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        api_version: str | None = None,
        timeout: float = 10.0,
        policy: RetryPolicy | None = None,
        verify: bool | str = True,
        on_response: Callable[[str, httpx.Response], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if api_version is not None and not API_VERSION.match(api_version):
            raise ValueError(f"API version must look like v45, not {api_version!r}")
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        self.policy = policy or RetryPolicy()
        self.on_response = on_response
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=httpx.BasicAuth(username, password),
            headers={"Accept": "application/json", "User-Agent": "smmc-cloudera-exporter"},
            timeout=httpx.Timeout(timeout),
            verify=verify,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def _request(self, endpoint: str, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        callback = self.on_response
        response = request_with_retry(
            self._http,
            "GET",
            path,
            policy=self.policy,
            sleep=self._sleep,
            on_response=None if callback is None else (lambda r: callback(endpoint, r)),
            params=params,
        )
        if response.status_code != 200:
            raise FetchError(
                f"http_{response.status_code}",
                f"GET {path}: HTTP {response.status_code}: {error_text(response)}",
            )
        return response

    def version(self) -> str:
        """The API version to use: the one given, else the server's newest (`GET /api/version`)."""
        if self.api_version is None:
            text = self._request("version", "/api/version").text.strip().strip('"')
            if not API_VERSION.match(text):
                raise FetchError("malformed_json", f"GET /api/version: not an API version: {text[:40]!r}")
            self.api_version = text
        return self.api_version

    def _items(self, endpoint: str, path: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        full = f"/api/{self.version()}{path}"
        response = self._request(endpoint, full, params)
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise FetchError("malformed_json", f"GET {full}: body is not JSON: {exc}") from exc
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise FetchError("malformed_json", f"GET {full}: no list of objects under 'items'")
        return items

    def clusters(self) -> list[dict[str, Any]]:
        return self._items("clusters", "/clusters")

    def services(self, cluster: str) -> list[dict[str, Any]]:
        return self._items("services", f"/clusters/{quote(cluster, safe='')}/services")

    def hosts(self) -> list[dict[str, Any]]:
        return self._items("hosts", "/hosts", {"view": "summary"})

    def timeseries(self, query: str, start: str, end: str) -> list[dict[str, Any]]:
        """The `timeSeries` of every response of a tsquery (one response per select statement)."""
        params = {"query": query, "from": start, "to": end, "contentType": "application/json"}
        series: list[dict[str, Any]] = []
        for response in self._items("timeseries", "/timeseries", params):
            found = response.get("timeSeries") or []
            if not isinstance(found, list) or not all(isinstance(s, dict) for s in found):
                raise FetchError("malformed_json", "GET timeseries: 'timeSeries' is not a list of objects")
            series.extend(found)
        return series


def error_text(response: httpx.Response) -> str:
    """Cloudera Manager's error message (`{"message", "causes"}`), bounded; else the start of the body."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        causes = data.get("causes")
        extra = f" ({'; '.join(str(c) for c in causes[:2])})" if isinstance(causes, list) and causes else ""
        return (data["message"] + extra)[:300]
    return response.text[:200]
