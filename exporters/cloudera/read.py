"""Reading the Cloudera job status report: fetching it (a file or a URL) and parsing it (CSV/TSV or JSON)
into validated rows.

The report has one row per job: proceso, hora_ejecucion, estado_final, criticidad. The seed's e-mail
form splits it in two titled tables ("Procesos con Éxito!" / "Procesos con Fallos!"), each with its
header; titles and repeated headers are dropped before the table is read with the shared reader
(`exporters.core.tabular.read_table`). JSON reports are a list of row objects, or an object whose list
values are row lists (e.g. one list per section).

A report that cannot be used at all raises `ReportError(reason, message)`; a bad row is dropped and
counted by reason (`malformed_row`, `missing_job`, `unknown_status`, `unknown_criticality`,
`bad_timestamp`, `missing_timestamp`).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import pandas as pd

from exporters.cloudera.schedule import fold_text, normalise_criticality
from exporters.core.poller import FetchError, RetryPolicy, request_with_retry
from exporters.core.tabular import (
    TableError,
    normalise_header,
    parse_timestamps,
    read_table,
    sniff_delimiter,
    sniff_encoding,
)
from smmc.redact import redact_url

REQUIRED_COLUMNS = ("proceso", "hora_ejecucion", "estado_final", "criticidad")
# English column names some exports use, mapped to the seed's.
COLUMN_ALIASES = {
    "job": "proceso",
    "process": "proceso",
    "name": "proceso",
    "run_time": "hora_ejecucion",
    "last_run": "hora_ejecucion",
    "execution_time": "hora_ejecucion",
    "status": "estado_final",
    "final_status": "estado_final",
    "criticality": "criticidad",
}

ROW_REJECT_REASONS = (
    "malformed_row",
    "missing_job",
    "unknown_status",
    "unknown_criticality",
    "bad_timestamp",
    "missing_timestamp",
)
REPORT_FAILURE_REASONS = (
    "empty",
    "wrong_header",
    "malformed_json",
    "unreadable",
    "no_valid_rows",
)

# estado_final vocabulary (folded: lower case, no accents).
_STATUS_WORDS = {
    "ok": "ok",
    "exito": "ok",
    "exitoso": "ok",
    "success": "ok",
    "succeeded": "ok",
    "completed": "ok",
    "finalizado": "ok",
    "retraso en ejecucion": "late",
    "retraso": "late",
    "atrasado": "late",
    "late": "late",
    "delayed": "late",
    "error": "failed",
    "fallo": "failed",
    "fallido": "failed",
    "falla": "failed",
    "failed": "failed",
    "failure": "failed",
    "killed": "failed",
    "abortado": "failed",
    "aborted": "failed",
    "cancelado": "failed",
}
_NO_TIME = {"", "none", "null", "nan", "nat", "-"}


class ReportError(Exception):
    """The whole report is unusable; `reason` is a short label value."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ReportRow:
    job: str
    status: str  # ok | late | failed
    criticality: str  # critical | non_critical
    run_timestamp: float | None  # seconds since the epoch; None when the job did not run


@dataclass
class ParsedReport:
    rows: list[ReportRow]
    rejected: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    format: str = "csv"


def normalise_status(value: object) -> str | None:
    return _STATUS_WORDS.get(fold_text(value))


def detect_format(content: bytes, name: str = "", content_type: str = "") -> str:
    """JSON when the name, the Content-Type or the first character says so; delimited text otherwise."""
    if name.lower().endswith(".json") or "json" in content_type.lower():
        return "json"
    head = content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return "json" if head in (b"[", b"{") else "csv"


def parse_report(
    content: bytes, fmt: str = "auto", tz: str = "America/Santiago", name: str = "", content_type: str = ""
) -> ParsedReport:
    if not content.strip():
        raise ReportError("empty", "the report is empty")
    if fmt == "auto":
        fmt = detect_format(content, name, content_type)
    frame, rejected, examples = _json_frame(content) if fmt == "json" else _table_frame(content)
    report = _validate(frame, tz)
    report.rejected.update(rejected)
    report.examples = examples + report.examples
    report.format = fmt
    if not report.rows and sum(report.rejected.values()):
        raise ReportError(
            "no_valid_rows",
            f"no usable row: {sum(report.rejected.values())} rejected ({_reasons(report.rejected)})",
        )
    return report


def _reasons(counter: Counter[str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counter.items()))


def _canonical(column: str) -> str:
    column = normalise_header(column)
    return COLUMN_ALIASES.get(column, column)


# -- delimited text -----------------------------------------------------------------------------------
def _strip_sections(text: str) -> tuple[str, str]:
    """Drop section titles and repeated headers; returns (clean text, delimiter)."""
    lines = text.splitlines()
    delimited: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            delimited.append((i, sniff_delimiter(line)))
        except TableError:
            continue
    header_index = None
    delimiter = "\t"
    for i, candidate in delimited:
        names = {_canonical(part) for part in lines[i].split(candidate)}
        if len(names & set(REQUIRED_COLUMNS)) >= 2:
            header_index, delimiter = i, candidate
            break
    if header_index is None and delimited:
        # no line looks like the header: take the first delimited one, the caller names what is missing
        header_index, delimiter = delimited[0]
    if header_index is None:
        raise ReportError("wrong_header", "no header line with a tab, semicolon or comma separator")
    header_key = [normalise_header(p) for p in lines[header_index].split(delimiter)]
    kept: list[str] = [lines[header_index]]
    body = lines[header_index + 1 :]
    for i, line in enumerate(body):
        if not line.strip():
            continue
        if [normalise_header(p) for p in line.split(delimiter)] == header_key:
            continue  # the header of the next section
        if delimiter not in line:
            following = next((nxt for nxt in body[i + 1 :] if nxt.strip()), None)
            if (
                following is not None
                and [normalise_header(p) for p in following.split(delimiter)] == header_key
            ):
                continue  # a section title ("Procesos con Fallos!")
        kept.append(line)
    # a section title before the first header is dropped with everything above it
    return "\n".join(kept) + "\n", delimiter


def _table_frame(content: bytes) -> tuple[pd.DataFrame, Counter[str], list[str]]:
    encoding = sniff_encoding(content[: 64 * 1024])
    text = content.decode(encoding, errors="replace").lstrip("\ufeff")
    clean, delimiter = _strip_sections(text)
    # the shared reader works on files; a report is small, so a temporary copy is cheap
    fd, tmp = tempfile.mkstemp(prefix="cloudera-report-", suffix=".txt")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(clean.encode("utf-8"))
        header_names = {_canonical(h) for h in clean.splitlines()[0].split(delimiter)}
        missing = sorted(set(REQUIRED_COLUMNS) - header_names)
        if missing:
            raise ReportError(
                "wrong_header",
                f"missing column(s) {', '.join(missing)}; header is {clean.splitlines()[0].strip()!r}",
            )
        try:
            table = read_table(Path(tmp))
        except TableError as exc:
            raise ReportError("unreadable", str(exc)) from exc
    finally:
        Path(tmp).unlink(missing_ok=True)
    frame = table.frame.rename(columns={c: _canonical(c) for c in table.frame.columns})
    rejected: Counter[str] = Counter()
    if table.rows_malformed:
        rejected["malformed_row"] += table.rows_malformed
    examples = [f"malformed_row: {e}" for e in table.malformed_examples]
    return frame, rejected, examples


# -- JSON ---------------------------------------------------------------------------------------------
def _json_frame(content: bytes) -> tuple[pd.DataFrame, Counter[str], list[str]]:
    try:
        document = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError("malformed_json", f"not valid JSON: {exc}") from exc
    if isinstance(document, dict):
        items = [item for value in document.values() if isinstance(value, list) for item in value]
        if not items and any(k.lower() in {"proceso", "job"} for k in document):
            items = [document]
        elif not any(isinstance(value, list) for value in document.values()):
            raise ReportError("malformed_json", "the JSON object holds no list of rows")
    elif isinstance(document, list):
        items = document
    else:
        raise ReportError(
            "malformed_json", f"expected a list of rows or an object of lists, got {document!r:.60}"
        )
    rejected: Counter[str] = Counter()
    examples: list[str] = []
    records = []
    for item in items:
        if not isinstance(item, dict):
            rejected["malformed_row"] += 1
            if len(examples) < 5:
                examples.append(f"malformed_row: {json.dumps(item)[:200]}")
            continue
        records.append({_canonical(str(k)): "" if v is None else str(v) for k, v in item.items()})
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=list(REQUIRED_COLUMNS))
    present = set(frame.columns)
    if records and not (set(REQUIRED_COLUMNS) <= present):
        missing = sorted(set(REQUIRED_COLUMNS) - present)
        raise ReportError(
            "wrong_header", f"rows lack field(s) {', '.join(missing)}; fields are {sorted(present)}"
        )
    frame = frame.reindex(columns=list(REQUIRED_COLUMNS)).fillna("")
    return frame, rejected, examples


# -- validation (vectorised) ----------------------------------------------------------------------------
def _validate(frame: pd.DataFrame, tz: str) -> ParsedReport:
    frame = frame.reindex(columns=list(REQUIRED_COLUMNS)).fillna("").astype(str)
    job = frame["proceso"].str.strip()
    status = frame["estado_final"].map(normalise_status)
    criticality = frame["criticidad"].map(normalise_criticality)
    raw_time = frame["hora_ejecucion"].str.strip()
    no_time = raw_time.str.lower().isin(_NO_TIME)
    stamps = parse_timestamps(raw_time.where(~no_time, ""), tz=tz)
    bad_time = ~no_time.to_numpy() & np.isnan(stamps)

    reason = pd.Series("", index=frame.index, dtype=object)
    checks = [
        ("missing_job", (job == "").to_numpy()),
        ("unknown_status", status.isna().to_numpy()),
        ("unknown_criticality", criticality.isna().to_numpy()),
        ("bad_timestamp", bad_time),
        # a successful run without a run time says nothing about when it ran
        ("missing_timestamp", no_time.to_numpy() & (status == "ok").to_numpy()),
    ]
    for name, mask in checks:
        reason[(reason == "") & mask] = name
    rejected = Counter(reason[reason != ""].tolist())
    examples = [
        f"{r}: {'|'.join(frame.loc[i, list(REQUIRED_COLUMNS)])}"[:200]
        for i, r in reason[reason != ""].head(5).items()
    ]
    good = (reason == "").to_numpy()
    rows = [
        ReportRow(
            job=j,
            status=s,
            criticality=c,
            run_timestamp=None if np.isnan(t) else round(float(t), 3),
        )
        for j, s, c, t in zip(
            job[good].tolist(),
            status[good].tolist(),
            criticality[good].tolist(),
            stamps[good].tolist(),
            strict=True,
        )
    ]
    return ParsedReport(rows=rows, rejected=rejected, examples=examples)


FETCH_FAILURE_REASONS = ("missing_file", "unreadable_file")


@dataclass(frozen=True)
class Fetched:
    content: bytes
    name: str
    content_type: str = ""


class ReportFetcher:
    """Reads the report from a path or an http(s) URL. `fetch()` returns None when it has not changed
    (HTTP 304, or a file still being written) and raises `FetchError` when it cannot be had."""

    def __init__(
        self,
        location: str,
        *,
        timeout: float = 30.0,
        token: str | None = None,
        settle_seconds: float = 2.0,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.location = location
        self.is_url = location.startswith(("http://", "https://"))
        self.settle_seconds = settle_seconds
        self._clock = clock
        self._sleep = sleep
        self._retry = retry or RetryPolicy()
        self._validators: dict[str, str] = {}
        self._client: httpx.Client | None = None
        if self.is_url:
            headers = {"Accept": "text/csv, text/tab-separated-values, application/json;q=0.9, */*;q=0.5"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            self._client = httpx.Client(timeout=timeout, headers=headers, follow_redirects=True)

    def fetch(self) -> Fetched | None:
        return self._fetch_url() if self.is_url else self._fetch_file()

    def _fetch_file(self) -> Fetched | None:
        path = Path(self.location)
        try:
            stat = path.stat()
            if self.settle_seconds > 0 and self._clock() - stat.st_mtime < self.settle_seconds:
                return None  # being replaced right now; read it next cycle
            content = path.read_bytes()
        except FileNotFoundError as exc:
            raise FetchError("missing_file", f"report file {path} does not exist") from exc
        except OSError as exc:
            raise FetchError("unreadable_file", f"cannot read report file {path}: {exc}") from exc
        return Fetched(content=content, name=path.name)

    def _fetch_url(self) -> Fetched | None:
        assert self._client is not None
        headers = {}
        if "etag" in self._validators:
            headers["If-None-Match"] = self._validators["etag"]
        if "last-modified" in self._validators:
            headers["If-Modified-Since"] = self._validators["last-modified"]
        response = request_with_retry(
            self._client, "GET", self.location, policy=self._retry, sleep=self._sleep, headers=headers
        )
        if response.status_code == 304:
            return None
        if response.status_code >= 300:
            raise FetchError(
                f"http_{response.status_code}",
                f"GET {redact_url(self.location)}: HTTP {response.status_code}",
            )
        self._validators = {
            k: response.headers[k] for k in ("etag", "last-modified") if response.headers.get(k)
        }
        return Fetched(
            content=response.content,
            name=httpx.URL(self.location).path.rsplit("/", 1)[-1],
            content_type=response.headers.get("content-type", ""),
        )

    def forget_validators(self) -> None:
        """After a broken report, fetch the whole body again next time (the server may fix it in place)."""
        self._validators = {}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


# -- Cloudera Manager's REST API (the data lake's resources) ---------------------------------------------
# Cloudera Manager authenticates with HTTP Basic (the same users as its console) and answers with a
# session cookie that later calls may send instead; httpx keeps the cookie. The API version is the one the
# server names at `GET /api/version` (e.g. `v45`) unless one is given. An error body is Cloudera Manager's
# `{"message": ..., "causes": [...]}`.

API_VERSION = re.compile(r"^v\d{1,3}$")


class ManagerClient:
    """A read-only client of the calls the resource collector makes. `on_response(endpoint, response)`
    sees every HTTP response, retries included (request counters)."""

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
