"""A fake JIRA (REST v2/v3 subset) for tests and the demo stack: `smmc fake jira` (default port 9831).

Real paths and answers: POST /rest/api/{2,3}/issue (201), GET/PUT /rest/api/{2,3}/issue/{key},
POST .../comment (201), GET/POST .../transitions (204), GET|POST /rest/api/3/search/jql (JIRA Cloud,
nextPageToken paging) and /rest/api/2/search (Data Center, startAt paging), with JIRA's error bodies for
400, 401, 404, 429 (Retry-After) and 500. JQL: clauses joined by AND over labels (= or in), project, key,
status, statusCategory, then ORDER BY created|updated [ASC|DESC]; anything else is a 400, as JIRA does.

Auth: `Authorization: Bearer <token>` (Data Center PAT) or Basic `user:<token>` (Cloud API token), with the
token from --token-file or $SMMC_FAKE_JIRA_TOKEN; no token configured = open.

Test controls (not JIRA): POST /_fake/faults {"status": 500|429|..., "count": n, "path": "regex",
"method": "POST", "retry_after": s, "delay_seconds": s, "delay_after": bool}, DELETE /_fake/faults,
GET /_fake/issues (everything created, with comments and history), GET /_fake/requests, POST /_fake/reset,
POST /_fake/issues/{key}/status {"status": "Done", "resolved_at": "..."} (close a ticket as a human would).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

STATUSES = {
    "To Do": {"key": "new", "name": "To Do"},
    "In Progress": {"key": "indeterminate", "name": "In Progress"},
    "Done": {"key": "done", "name": "Done"},
}
TRANSITIONS = [
    {"id": "21", "name": "In Progress", "to": "In Progress", "from": ("To Do",)},
    {"id": "31", "name": "Done", "to": "Done", "from": ("To Do", "In Progress")},
    {"id": "41", "name": "Reopen", "to": "To Do", "from": ("Done",)},
]
PROJECT_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,19}$")


def jira_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts % 1 * 1000):03d}+0000"


def _parse_time(text: str) -> float:
    t = text.replace("Z", "+00:00")
    if len(t) > 5 and t[-5] in "+-" and t[-3] != ":":
        t = t[:-2] + ":" + t[-2:]
    return datetime.fromisoformat(t).timestamp()


@dataclass
class Fault:
    status: int = 500
    count: int = 1
    path: str = ".*"
    method: str | None = None
    retry_after: float | None = None
    delay_seconds: float = 0.0
    delay_after: bool = False  # True: do the work, then wait before answering (a slow or dying link)

    def applies(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and re.search(
            self.path, path
        ) is not None


def take_fault(faults: list[Fault], lock: threading.Lock, method: str, path: str) -> Fault | None:
    """The first injected fault that applies to this request, one of its `count` used up."""
    with lock:
        for fault in faults:
            if fault.count > 0 and fault.applies(method, path):
                fault.count -= 1
                return fault
    return None


async def answer_under_fault(
    fault: Fault | None,
    request: Request,
    call_next: Any,
    reject: Callable[[int, str, dict[str, str] | None], Response],
) -> Response:
    """Serve a request under its injected fault (the fakes' middlewares share it): wait before, answer
    `reject(status, message, headers)` instead of the API (Retry-After when the fault has one), or do
    the work and wait before answering (`delay_after`)."""
    if fault is not None and not fault.delay_after:
        if fault.delay_seconds:
            await asyncio.sleep(fault.delay_seconds)
        if fault.status >= 400:
            headers = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after is not None else None
            return reject(fault.status, f"injected fault: HTTP {fault.status}", headers)
    response = await call_next(request)
    if fault is not None and fault.delay_after:
        await asyncio.sleep(fault.delay_seconds)
    return response


@dataclass
class Issue:
    id: str
    key: str
    fields: dict[str, Any]
    status: str = "To Do"
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    resolved: float | None = None
    comments: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    def render(self, base: str, wanted: set[str] | None = None) -> dict[str, Any]:
        fields = dict(self.fields)
        fields.update(
            {
                "status": {"name": self.status, "statusCategory": STATUSES[self.status]},
                "created": jira_time(self.created),
                "updated": jira_time(self.updated),
                "resolutiondate": jira_time(self.resolved) if self.resolved else None,
                "comment": {
                    "comments": self.comments,
                    "total": len(self.comments),
                    "maxResults": len(self.comments),
                    "startAt": 0,
                },
            }
        )
        fields.setdefault("labels", [])
        if wanted and "*all" not in wanted:
            fields = {k: v for k, v in fields.items() if k in wanted}
        return {
            "id": self.id,
            "key": self.key,
            "self": f"{base}/rest/api/2/issue/{self.id}",
            "fields": fields,
        }


class JqlError(ValueError):
    pass


_CLAUSE = re.compile(
    r'^\s*(labels|project|key|status|statusCategory)\s*(=|in)\s*(\((?:[^()]*)\)|"[^"]*"|[\w\-.]+)\s*$', re.I
)


def _values(raw: str) -> list[str]:
    raw = raw.strip()
    if raw.startswith("("):
        return [v.strip().strip('"') for v in raw[1:-1].split(",") if v.strip()]
    return [raw.strip('"')]


def compile_jql(jql: str) -> tuple[list[tuple[str, list[str]]], str, bool]:
    text = jql.strip()
    order_field, descending = "created", False
    m = re.search(r"\s*ORDER\s+BY\s+(created|updated|key)\s*(ASC|DESC)?\s*$", text, re.I)
    if m:
        order_field, descending = m.group(1).lower(), (m.group(2) or "ASC").upper() == "DESC"
        text = text[: m.start()]
    clauses = []
    if text.strip():
        for part in re.split(r"\s+AND\s+", text, flags=re.I):
            c = _CLAUSE.match(part)
            if not c:
                raise JqlError(f"Error in the JQL Query: unsupported clause {part.strip()!r}")
            clauses.append((c.group(1).lower(), _values(c.group(3))))
    return clauses, order_field, descending


def _matches(issue: Issue, clauses: list[tuple[str, list[str]]]) -> bool:
    for name, values in clauses:
        if name == "labels":
            if not set(values) & set(issue.fields.get("labels", [])):
                return False
        elif name == "project":
            if issue.fields["project"]["key"] not in values:
                return False
        elif name == "key":
            if issue.key not in values:
                return False
        elif name == "status":
            if issue.status.lower() not in [v.lower() for v in values]:
                return False
        elif name == "statuscategory":
            cat = STATUSES[issue.status]
            if not {cat["key"].lower(), cat["name"].lower()} & {v.lower() for v in values}:
                return False
    return True


class NoSuchIssue(LookupError):
    """An issue key or id the fake does not have: JIRA answers 404 (the app's exception handler)."""


class JiraState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.issues: dict[str, Issue] = {}
        self.by_id: dict[str, Issue] = {}
        self.counters: dict[str, int] = {}
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []
        self.next_id = 10000

    def find(self, ref: str) -> Issue | None:
        return self.issues.get(ref) or self.by_id.get(ref)

    def issue(self, ref: str) -> Issue:
        """The issue by key or id; `NoSuchIssue` (JIRA's 404) when there is none."""
        issue = self.find(ref)
        if issue is None:
            raise NoSuchIssue(ref)
        return issue

    def take_fault(self, method: str, path: str) -> Fault | None:
        return take_fault(self.faults, self.lock, method, path)


def _error(
    status: int,
    messages: list[str],
    errors: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"errorMessages": messages, "errors": errors or {}}, status_code=status, headers=headers
    )


def create_app(token: str | None = None) -> FastAPI:
    app = FastAPI(title="fake JIRA", docs_url=None, redoc_url=None)
    state = JiraState()
    app.state.jira = state

    def authorised(request: Request) -> bool:
        if token is None:
            return True
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return hmac.compare_digest(value.strip().encode(), token.encode())
        if scheme.lower() == "basic":
            try:
                _user, _, secret = base64.b64decode(value.strip()).decode().partition(":")
            except ValueError:
                return False
            return hmac.compare_digest(secret.encode(), token.encode())
        return False

    @app.middleware("http")
    async def faults_and_auth(request: Request, call_next: Any) -> Response:
        path = request.url.path
        if path.startswith("/_fake/"):
            return await call_next(request)
        with state.lock:
            state.requests.append({"method": request.method, "path": path, "ts": time.time()})
        if not authorised(request):
            return _error(
                401, ["You are not authenticated. Authentication required to perform this operation."]
            )
        return await answer_under_fault(
            state.take_fault(request.method, path),
            request,
            call_next,
            lambda status, message, headers: _error(status, [message], headers=headers),
        )

    @app.exception_handler(NoSuchIssue)
    async def no_such_issue(request: Request, exc: NoSuchIssue) -> JSONResponse:
        return _error(404, ["Issue does not exist or you do not have permission to see it."])

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    @app.post("/rest/api/{version}/issue")
    async def create_issue(version: str, request: Request) -> JSONResponse:
        try:
            body = await request.json()
            fields = dict(body["fields"])
        except (ValueError, KeyError, TypeError):
            return _error(400, ["Request body must be JSON with a 'fields' object."])
        errors = {}
        project = (fields.get("project") or {}).get("key", "")
        if not PROJECT_RE.match(str(project)):
            errors["project"] = "valid project is required"
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        if not (fields.get("issuetype") or {}).get("name"):
            errors["issuetype"] = "valid issue type is required"
        labels = fields.get("labels", [])
        if not isinstance(labels, list) or any(" " in str(lab) for lab in labels):
            errors["labels"] = "Labels cannot contain spaces."
        if errors:
            return _error(400, [], errors)
        with state.lock:
            state.counters[project] = state.counters.get(project, 0) + 1
            state.next_id += 1
            issue = Issue(id=str(state.next_id), key=f"{project}-{state.counters[project]}", fields=fields)
            issue.history.append({"ts": issue.created, "event": "created"})
            state.issues[issue.key] = issue
            state.by_id[issue.id] = issue
        return JSONResponse(
            {"id": issue.id, "key": issue.key, "self": f"{base(request)}/rest/api/2/issue/{issue.id}"},
            status_code=201,
        )

    @app.get("/rest/api/{version}/issue/{ref}")
    def get_issue(version: str, ref: str, request: Request, fields: str | None = None) -> JSONResponse:
        issue = state.issue(ref)
        wanted = set(fields.split(",")) if fields else None
        return JSONResponse(issue.render(base(request), wanted))

    @app.put("/rest/api/{version}/issue/{ref}")
    async def edit_issue(version: str, ref: str, request: Request) -> Response:
        issue = state.issue(ref)
        body = await request.json()
        with state.lock:
            for name, value in (body.get("fields") or {}).items():
                issue.fields[name] = value
            for op in (body.get("update") or {}).get("labels", []):
                labels = issue.fields.setdefault("labels", [])
                if "add" in op and op["add"] not in labels:
                    labels.append(op["add"])
                if "remove" in op and op["remove"] in labels:
                    labels.remove(op["remove"])
            issue.updated = time.time()
        return Response(status_code=204)

    @app.post("/rest/api/{version}/issue/{ref}/comment")
    async def add_comment(version: str, ref: str, request: Request) -> JSONResponse:
        issue = state.issue(ref)
        body = await request.json()
        if "body" not in body:
            return _error(400, [], {"comment": "Comment body can not be empty!"})
        with state.lock:
            now = time.time()
            comment = {"id": str(len(issue.comments) + 1), "body": body["body"], "created": jira_time(now)}
            issue.comments.append(comment)
            issue.updated = now
        return JSONResponse(comment, status_code=201)

    @app.get("/rest/api/{version}/issue/{ref}/transitions")
    def list_transitions(version: str, ref: str) -> JSONResponse:
        issue = state.issue(ref)
        out = [
            {"id": t["id"], "name": t["name"], "to": {"name": t["to"], "statusCategory": STATUSES[t["to"]]}}
            for t in TRANSITIONS
            if issue.status in t["from"]
        ]
        return JSONResponse({"expand": "transitions", "transitions": out})

    @app.post("/rest/api/{version}/issue/{ref}/transitions")
    async def do_transition(version: str, ref: str, request: Request) -> Response:
        issue = state.issue(ref)
        body = await request.json()
        wanted = str((body.get("transition") or {}).get("id", ""))
        for t in TRANSITIONS:
            if t["id"] == wanted and issue.status in t["from"]:
                with state.lock:
                    _set_status(issue, str(t["to"]), time.time())
                return Response(status_code=204)
        return _error(400, [f"Transition id '{wanted}' is not valid for this issue."])

    def search(jql: str, start: int, limit: int, fields: str | None) -> tuple[list[dict[str, Any]], int]:
        clauses, order, desc = compile_jql(jql)
        with state.lock:
            hits = [i for i in state.issues.values() if _matches(i, clauses)]
        hits.sort(key=lambda i: getattr(i, order) if order != "key" else int(i.id), reverse=desc)
        wanted = set(fields.split(",")) if fields else None
        return [i.render("", wanted) for i in hits[start : start + limit]], len(hits)

    async def _params(request: Request) -> dict[str, Any]:
        if request.method == "POST":
            body = await request.json()
            if isinstance(body.get("fields"), list):
                body["fields"] = ",".join(body["fields"])
            return body
        return dict(request.query_params)

    @app.api_route("/rest/api/3/search/jql", methods=["GET", "POST"])
    async def search_jql(request: Request) -> JSONResponse:
        p = await _params(request)
        if not p.get("jql"):
            return _error(
                400, ["Unbounded JQL queries are not allowed here. Please add a search restriction."]
            )
        start = (
            int(base64.urlsafe_b64decode(str(p["nextPageToken"]).encode()).decode())
            if p.get("nextPageToken")
            else 0
        )
        limit = max(1, min(int(p.get("maxResults", 50)), 100))
        try:
            issues, total = search(str(p["jql"]), start, limit, p.get("fields"))
        except JqlError as exc:
            return _error(400, [str(exc)])
        body: dict[str, Any] = {"issues": issues, "isLast": start + len(issues) >= total}
        if not body["isLast"]:
            body["nextPageToken"] = base64.urlsafe_b64encode(str(start + len(issues)).encode()).decode()
        return JSONResponse(body)

    @app.api_route("/rest/api/2/search", methods=["GET", "POST"])
    async def search_v2(request: Request) -> JSONResponse:
        p = await _params(request)
        start = int(p.get("startAt", 0))
        limit = max(1, min(int(p.get("maxResults", 50)), 100))
        try:
            issues, total = search(str(p.get("jql", "")), start, limit, p.get("fields"))
        except JqlError as exc:
            return _error(400, [str(exc)])
        return JSONResponse({"startAt": start, "maxResults": limit, "total": total, "issues": issues})

    # -- test controls ---------------------------------------------------------------------------------
    @app.post("/_fake/faults")
    async def add_fault(request: Request) -> JSONResponse:
        body = await request.json()
        fault = Fault(**body)
        with state.lock:
            state.faults.append(fault)
        return JSONResponse({"faults": len(state.faults)}, status_code=201)

    @app.delete("/_fake/faults")
    def clear_faults() -> JSONResponse:
        with state.lock:
            state.faults.clear()
        return JSONResponse({"faults": 0})

    @app.get("/_fake/issues")
    def dump_issues() -> JSONResponse:
        with state.lock:
            out = [
                {**i.render(""), "status": i.status, "comments": i.comments, "history": i.history}
                for i in state.issues.values()
            ]
        return JSONResponse(out)

    @app.get("/_fake/requests")
    def dump_requests() -> JSONResponse:
        with state.lock:
            return JSONResponse(list(state.requests))

    @app.post("/_fake/reset")
    def reset() -> JSONResponse:
        with state.lock:
            state.reset()
        return JSONResponse({"reset": True})

    @app.post("/_fake/issues/{key}/status")
    async def force_status(key: str, request: Request) -> JSONResponse:
        issue = state.issue(key)
        body = await request.json()
        if body.get("status") not in STATUSES:
            return _error(400, [f"status must be one of {list(STATUSES)}"])
        when = _parse_time(body["resolved_at"]) if body.get("resolved_at") else time.time()
        with state.lock:
            _set_status(issue, body["status"], when)
        return JSONResponse(issue.render(""))

    return app


def _set_status(issue: Issue, status: str, when: float) -> None:
    issue.status = status
    issue.updated = when
    issue.resolved = when if STATUSES[status]["key"] == "done" else None
    issue.history.append({"ts": when, "event": f"status:{status}"})


def serve_main(argv: list[str], name: str, default_port: int, token_env: str, factory: Any) -> int:
    from exporters.core.server import parse_listen
    from smmc.options import OptionParser, fail

    prog = f"smmc fake {name}"
    parser = OptionParser(prog=prog, env_prefix=f"SMMC_FAKE_{name.upper()}_")
    parser.add_argument("--listen", default=f"127.0.0.1:{default_port}", help="HOST:PORT")
    parser.add_argument("--token-file", help=f"file with the accepted token (else ${token_env}; none = open)")
    args = parser.parse_args(argv)
    try:
        host, port = parse_listen(args.listen, default_port)
        token = (
            Path(args.token_file).read_text().strip()
            if args.token_file
            else os.environ.get(token_env) or None
        )
    except (OSError, ValueError) as exc:
        return fail(prog, str(exc))
    import uvicorn

    access = (
        f"bearer token required ({'--token-file' if args.token_file else '$' + token_env})"
        if token
        else "open (no token)"
    )
    print(f"fake {name} on http://{host}:{port}: {access}", file=sys.stderr, flush=True)
    uvicorn.run(factory(token=token), host=host, port=port, log_level="warning")
    return 0


def main(argv: list[str]) -> int:
    return serve_main(argv, "jira", 9831, "SMMC_FAKE_JIRA_TOKEN", create_app)
