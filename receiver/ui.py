"""The approvals page: the receiver's small web UI for the on-call engineer, server-rendered by the FastAPI
app (plain HTML forms, no JavaScript, no template engine, no build step).

GET  /ui/login                 sign in with the operator's own credential
POST /ui/login                 -> a session cookie (HttpOnly, SameSite=Strict, path /ui), 8 hours
POST /ui/logout
GET  /ui/approvals             actions awaiting approval: alert, object, action, the request it would send
POST /ui/approvals/{id}        approve or reject (form: decision, comment, csrf), as the signed-in operator
GET  /ui/ledger                the audit ledger, newest first, filtered by event, action, operator, alert

Who may sign in, and under which name a decision is recorded, is the app's business (`UiHooks`): the
page calls the same decision function as `POST /api/actions/{id}/approve`, so the ledger cannot tell a
click from a curl except by the `via` it records. Every value shown is HTML-escaped; every form carries
the session's CSRF token.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from receiver.store import ActionRow, Store

COOKIE = "smmc_ui_session"
SESSION_SECONDS = 8 * 3600
MAX_SESSIONS = 1000
MAX_FORM_BYTES = 16 * 1024
OBJECT_LABELS = ("concentrator", "meter", "modem", "comuna", "flag", "category", "host", "service", "job")
# the ledger's events (receiver/intake.py, worker.py, store.py, app.py), decisions first
LEDGER_EVENTS = (
    "approved",
    "rejected",
    "retried",
    "action_planned",
    "dispatch_started",
    "succeeded",
    "failed",
    "dry_run",
    "retry_scheduled",
    "deferred",
    "suppressed",
    "storm_opened",
    "storm_suppressed",
    "notification_received",
    "stale_result_discarded",
    "lease_expired_reclaimed",
    "reclaimed_after_restart",
)
CSS = """
body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2125}
header{background:#1f2a37;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.5rem;align-items:center}
header a{color:#cfe3ff;text-decoration:none}header .who{margin-left:auto}
main{padding:1rem 1.2rem}h1{font-size:1.3rem}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #d0d4da;padding:.35rem .5rem;vertical-align:top;text-align:left;font-size:.9rem}
th{background:#e9ecf1}pre{margin:0;font-size:.8rem;white-space:pre-wrap;max-width:34rem}
.flash{background:#e3f5e1;border:1px solid #8cc084;padding:.5rem;margin-bottom:1rem}
.error{background:#fde2e1;border:1px solid #e0807a;padding:.5rem;margin-bottom:1rem}
button{padding:.3rem .8rem;margin:.2rem .2rem 0 0;cursor:pointer}
button.approve{background:#2e7d32;color:#fff;border:0}button.reject{background:#c62828;color:#fff;border:0}
form.filters{display:flex;gap:.8rem;flex-wrap:wrap;align-items:end;margin-bottom:1rem}
label{display:flex;flex-direction:column;font-size:.85rem}
.login{max-width:22rem;background:#fff;padding:1rem 1.2rem;border:1px solid #d0d4da}
.login input{margin-bottom:.8rem;padding:.3rem}
"""


@dataclass(frozen=True)
class UiHooks:
    """What the page needs from the app.

    `authenticate(operator, secret)` returns the name decisions are recorded under, or None when the
    credential is not valid. `ask_operator_name`: whether the login form asks for a name (a shared
    credential says nothing about who holds it) or the credential names its owner.
    `decide(action_id, verdict, by, comment)` is the API's approve/reject; it raises `HTTPException`
    (404 unknown action, 409 no longer awaiting approval) and returns the updated action as JSON.
    `preview(action)` is what the dispatch would send (the action type's adapter).
    """

    authenticate: Callable[[str, str], str | None]
    decide: Callable[[int, str, str, str], dict[str, Any]]
    preview: Callable[[ActionRow], dict[str, Any]]
    ask_operator_name: bool = True


@dataclass
class Session:
    operator: str
    csrf: str
    expires: float


class Sessions:
    """Signed-in operators, in memory (a restart signs everyone out); oldest dropped past the cap."""

    def __init__(self, lifetime: float = SESSION_SECONDS, clock: Callable[[], float] = time.time) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self._lock = threading.Lock()
        self._by_id: dict[str, Session] = {}

    def open(self, operator: str) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        session = Session(operator, secrets.token_urlsafe(24), self.clock() + self.lifetime)
        with self._lock:
            now = self.clock()
            self._by_id = {k: v for k, v in self._by_id.items() if v.expires > now}
            while len(self._by_id) >= MAX_SESSIONS:
                self._by_id.pop(next(iter(self._by_id)))
            self._by_id[session_id] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            session = self._by_id.get(session_id)
            if session is None or session.expires <= self.clock():
                self._by_id.pop(session_id, None)
                return None
            return session

    def close(self, session_id: str | None) -> None:
        with self._lock:
            self._by_id.pop(session_id or "", None)


# --- rendering ---------------------------------------------------------------------------------------


def e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def page(title: str, body: str, operator: str | None = None, csrf: str = "") -> HTMLResponse:
    nav = ""
    if operator is not None:
        nav = (
            '<a href="/ui/approvals">Awaiting approval</a><a href="/ui/ledger">Ledger</a>'
            f'<span class="who">signed in as <b id="operator">{e(operator)}</b></span>'
            f'<form method="post" action="/ui/logout"><input type="hidden" name="csrf" value="{e(csrf)}">'
            '<button type="submit">Sign out</button></form>'
        )
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)} · smmc receiver</title><style>{CSS}</style></head>"
        f"<body><header><b>smmc receiver</b>{nav}</header>"
        f"<main><h1>{e(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(
        text,
        headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'",
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )


def object_of(labels: dict[str, str]) -> str:
    parts = [f"{k}={labels[k]}" for k in OBJECT_LABELS if labels.get(k)]
    return ", ".join(parts)


def approvals_table(
    actions: Iterable[ActionRow], csrf: str, request_preview: Callable[[ActionRow], dict[str, Any]]
) -> str:
    rows = []
    for a in actions:
        summary = a.annotations.get("summary", "")
        preview = json.dumps(request_preview(a), indent=2, ensure_ascii=False, sort_keys=True)
        command = a.params.get("command")
        rows.append(
            f'<tr id="action-{a.id}"><td>{a.id}</td><td>{e(when(a.created_at))}</td>'
            f"<td><b>{e(a.alertname)}</b><br>{e(a.labels.get('severity', ''))} {e(summary)}</td>"
            f"<td>{e(object_of(a.labels))}</td>"
            f"<td>{e(a.action)}{'<br>' + e(command) if command else ''}"
            f"<br><small>rule {e(a.rule)}</small></td>"
            f"<td><pre>{e(preview)}</pre></td>"
            f'<td><form method="post" action="/ui/approvals/{a.id}">'
            f'<input type="hidden" name="csrf" value="{e(csrf)}">'
            f'<label>Comment<input name="comment" maxlength="2000"></label>'
            f'<button class="approve" name="decision" value="approve" type="submit">Approve</button>'
            f'<button class="reject" name="decision" value="reject" type="submit">Reject</button>'
            "</form></td></tr>"
        )
    if not rows:
        return '<p id="empty">Nothing awaits approval.</p>'
    head = (
        "<tr><th>#</th><th>Created</th><th>Alert</th><th>Object</th><th>Action</th>"
        "<th>Request it will send</th><th>Decision</th></tr>"
    )
    return f'<table id="approvals">{head}{"".join(rows)}</table>'


def ledger_table(entries: list[dict[str, Any]]) -> str:
    rows = []
    for entry in entries:
        detail = entry.get("detail") or {}
        by = detail.get("by", "") if isinstance(detail, dict) else ""
        comment = detail.get("comment", "") if isinstance(detail, dict) else ""
        rest = (
            {k: v for k, v in detail.items() if k not in ("by", "comment")}
            if isinstance(detail, dict)
            else {}
        )
        action_id = entry.get("action_id")
        rows.append(
            f'<tr class="ledger-row"><td>{entry["id"]}</td><td>{e(when(entry["ts"]))}</td>'
            f"<td>{e(action_id)}</td><td>{e(entry.get('alertname') or '')}</td>"
            f'<td class="event">{e(entry["event"])}</td><td class="by">{e(by)}</td><td>{e(comment)}</td>'
            f"<td><pre>{e(json.dumps(rest, ensure_ascii=False, sort_keys=True)) if rest else ''}</pre>"
            "</td></tr>"
        )
    if not rows:
        return '<p id="empty">No ledger entry matches.</p>'
    head = (
        "<tr><th>#</th><th>Time</th><th>Action</th><th>Alert</th><th>Event</th><th>By</th><th>Comment</th>"
        "<th>Detail</th></tr>"
    )
    return f'<table id="ledger">{head}{"".join(rows)}</table>'


def ledger_filters(values: dict[str, str]) -> str:
    options = "".join(
        f'<option value="{e(ev)}"{" selected" if values.get("event") == ev else ""}>{e(ev)}</option>'
        for ev in ("", *LEDGER_EVENTS)
    )
    return (
        '<form class="filters" method="get" action="/ui/ledger">'
        f'<label>Event<select name="event">{options}</select></label>'
        f'<label>Action #<input name="action_id" size="6" value="{e(values.get("action_id", ""))}"></label>'
        f'<label>Operator<input name="by" value="{e(values.get("by", ""))}"></label>'
        f'<label>Alert<input name="alertname" value="{e(values.get("alertname", ""))}"></label>'
        f'<label>Rows<input name="limit" size="5" value="{e(values.get("limit", "200"))}"></label>'
        '<button type="submit">Filter</button></form>'
    )


# --- the routes --------------------------------------------------------------------------------------


async def read_form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, "form too large")
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


def install(app: FastAPI, store: Store, hooks: UiHooks, sessions: Sessions | None = None) -> Sessions:
    sessions = sessions or Sessions()

    def current(request: Request) -> Session | None:
        return sessions.get(request.cookies.get(COOKIE))

    def to_login() -> RedirectResponse:
        return RedirectResponse("/ui/login", status_code=303)

    def login_page(message: str = "") -> HTMLResponse:
        name = (
            '<label>Your name<input name="operator" id="operator-name" autocomplete="username" required>'
            "</label>"
            if hooks.ask_operator_name
            else ""
        )
        error = f'<p class="error" id="login-error">{e(message)}</p>' if message else ""
        body = (
            f'{error}<form class="login" method="post" action="/ui/login">{name}'
            '<label>Credential<input name="secret" id="secret" type="password" '
            'autocomplete="current-password" required></label>'
            '<button type="submit" id="sign-in">Sign in</button></form>'
        )
        return page("Sign in", body)

    @app.get("/ui", include_in_schema=False)
    def ui_root() -> Response:
        return RedirectResponse("/ui/approvals", status_code=303)

    @app.get("/ui/login", include_in_schema=False)
    def ui_login_form() -> Response:
        return login_page()

    @app.post("/ui/login", include_in_schema=False)
    async def ui_login(request: Request) -> Response:
        form = await read_form(request)
        operator = form.get("operator", "").strip()[:200]
        identity = hooks.authenticate(operator, form.get("secret", ""))
        if identity is None:
            response = login_page("Unknown operator or wrong credential.")
            response.status_code = 401
            return response
        session_id, _session = sessions.open(identity)
        response = RedirectResponse("/ui/approvals", status_code=303)
        response.set_cookie(
            COOKIE,
            session_id,
            max_age=int(sessions.lifetime),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/ui",
        )
        return response

    @app.post("/ui/logout", include_in_schema=False)
    async def ui_logout(request: Request) -> Response:
        session = current(request)
        form = await read_form(request)
        if session is not None and secrets.compare_digest(form.get("csrf", ""), session.csrf):
            sessions.close(request.cookies.get(COOKIE))
        response = to_login()
        response.delete_cookie(COOKIE, path="/ui")
        return response

    @app.get("/ui/approvals", include_in_schema=False)
    def ui_approvals(request: Request, done: str = "", error: str = "") -> Response:
        session = current(request)
        if session is None:
            return to_login()
        waiting = store.list_actions(status="awaiting_approval", limit=500)
        flash = f'<p class="flash" id="flash">{e(done)}</p>' if done else ""
        flash += f'<p class="error" id="error">{e(error)}</p>' if error else ""
        body = (
            f"{flash}<p>{len(waiting)} action(s) wait for a human decision. Approving sends the request "
            "shown; rejecting closes the action. Either is recorded in the ledger under your name.</p>"
            f"{approvals_table(waiting, session.csrf, hooks.preview)}"
        )
        return page("Awaiting approval", body, session.operator, session.csrf)

    @app.post("/ui/approvals/{action_id}", include_in_schema=False)
    async def ui_decide(action_id: int, request: Request) -> Response:
        session = current(request)
        if session is None:
            return to_login()
        form = await read_form(request)
        if not secrets.compare_digest(form.get("csrf", ""), session.csrf):
            raise HTTPException(403, "stale or missing form token: reload the page")
        verdict = form.get("decision", "")
        if verdict not in ("approve", "reject"):
            raise HTTPException(400, "decision must be approve or reject")
        try:
            hooks.decide(action_id, verdict, session.operator, form.get("comment", "")[:2000])
        except HTTPException as exc:
            query = urlencode({"error": f"action {action_id}: {exc.detail}"})
            return RedirectResponse(f"/ui/approvals?{query}", status_code=303)
        past = "approved" if verdict == "approve" else "rejected"
        query = urlencode({"done": f"Action {action_id} {past} by {session.operator}."})
        return RedirectResponse(f"/ui/approvals?{query}", status_code=303)

    @app.get("/ui/ledger", include_in_schema=False)
    def ui_ledger(
        request: Request,
        event: str = "",
        action_id: str = "",
        by: str = "",
        alertname: str = "",
        limit: str = "200",
    ) -> Response:
        session = current(request)
        if session is None:
            return to_login()
        rows = min(max(int(limit) if limit.isdigit() else 200, 1), 5000)
        wanted_action = int(action_id) if action_id.strip().isdigit() else None
        entries = store.ledger_search(
            event=event or None,
            action_id=wanted_action,
            alertname=alertname or None,
            by=by or None,
            limit=rows,
        )
        values = {
            "event": event,
            "action_id": action_id,
            "by": by,
            "alertname": alertname,
            "limit": str(rows),
        }
        body = ledger_filters(values) + f"<p>{len(entries)} entries, newest first.</p>"
        body += ledger_table(entries)
        return page("Ledger", body, session.operator, session.csrf)

    return sessions
