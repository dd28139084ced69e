"""The receiver's HTTP API (FastAPI): webhooks in, the action ledger and approvals out.

POST /webhook/{receiver}      Alertmanager webhook (webhook token); 200 only after a durable commit
GET  /api/actions             actions, filterable by status, action, alertname (webhook or operator token)
GET  /api/actions/{id}        one action with its ledger history
POST /api/actions/{id}/approve|reject|retry   human decisions (an operator's own token; the ledger
                              records the operator the token belongs to)
GET  /api/ledger              the audit ledger, in order (after_id, limit)
GET  /ui/approvals, /ui/ledger   the approvals page (receiver/ui.py): an operator signs in with their own
                              token, approves or rejects, reads the ledger
GET  /healthz                 threads alive and the store can commit
GET  /readyz                  the store can commit (503 otherwise): take webhooks only when ready
GET  /metrics                 Prometheus exposition

Credentials and body sizes are checked by `receiver.guard.Guard` before any body is read; bad input
answers 400 (413 when too large) with a reason that quotes none of it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from receiver import ui
from receiver.auth import Credentials, require_operator
from receiver.config import Config
from receiver.guard import Guard
from receiver.health import StoreHealth
from receiver.metrics import ReceiverMetrics
from receiver.payload import DEFAULT_MAX_ALERTS, PayloadError, PayloadTooLarge, parse_notification
from receiver.store import ActionRow, Store, StoreError
from receiver.worker import OutboxWorker
from receiver.writer import IntakeWriter

DEFAULT_MAX_BODY = 4 * 1024 * 1024
MAX_ID = 2**63 - 1  # the databases' BIGINT
ActionId = Annotated[int, PathParam(ge=0, le=MAX_ID)]
Operator = Annotated[str, Depends(require_operator)]


class SafeJSONResponse(JSONResponse):
    """JSON whatever the stored text holds: a lone surrogate (written by an older release) goes out as
    its \\uXXXX escape instead of failing the whole answer."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")


class Decision(BaseModel):
    # who decides comes from the operator's token; `by`, when sent, must name the same person
    by: str | None = Field(default=None, min_length=1, max_length=200)
    comment: str = Field(default="", max_length=2000)


def _action_json(a: ActionRow) -> dict[str, Any]:
    return a.to_json()


def create_app(
    config: Config,
    store: Store,
    token: str | None,
    *,
    worker: OutboxWorker,
    writer: IntakeWriter,
    metrics: ReceiverMetrics,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    run_worker: bool = True,
    operators: Mapping[str, str] | None = None,
    max_alerts: int = DEFAULT_MAX_ALERTS,
    health: StoreHealth | None = None,
) -> FastAPI:
    """The HTTP surface over parts wired by `receiver.service.build_receiver`. `token=None` and no
    `operators` disable auth (tests of the open API only; the CLI refuses it). `operators` maps each
    operator's name to their token (see `receiver.auth`)."""
    credentials = Credentials(token, operators)
    health = health or StoreHealth(store)
    metrics.store_health = health

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        writer.start()
        if run_worker:
            worker.start()
        try:
            yield
        finally:
            writer.stop()
            if run_worker:
                worker.stop()

    app = FastAPI(
        title="smmc receiver",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        default_response_class=SafeJSONResponse,
    )
    app.state.config = config
    app.state.store = store
    app.state.worker = worker
    app.state.writer = writer
    app.state.metrics = metrics
    app.state.credentials = credentials
    app.state.health = health

    def guard_rejected(scope: Any, status: int) -> None:
        path = str(scope.get("path", ""))
        if path.startswith("/webhook/"):
            name = path.removeprefix("/webhook/")
            metrics.notifications.labels(name if name in config.receivers else "unknown", "rejected").inc()

    app.add_middleware(
        Guard, credentials=credentials, webhook_max_body=max_body_bytes, on_reject=guard_rejected
    )

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> SafeJSONResponse:
        # FastAPI's default 422 quotes the input back; this names the field and the rule only
        reasons = [
            {"loc": [str(p)[:64] for p in err.get("loc", ())], "msg": str(err.get("msg", ""))[:200]}
            for err in exc.errors()[:5]
        ]
        return SafeJSONResponse({"detail": reasons}, status_code=400)

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_body_bytes:
            raise HTTPException(413, f"body larger than {max_body_bytes} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise HTTPException(413, f"body larger than {max_body_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    @app.post("/webhook/{receiver}")
    async def webhook(receiver: str, request: Request) -> SafeJSONResponse:
        known = receiver in config.receivers
        label = receiver if known else "unknown"
        try:
            if not known:
                raise HTTPException(404, f"unknown receiver (known: {sorted(config.receivers)})")
            body = await read_body(request)
            try:
                notification = parse_notification(body, max_alerts=max_alerts)
            except PayloadTooLarge as exc:
                raise HTTPException(413, str(exc)) from None
            except PayloadError as exc:
                raise HTTPException(400, f"malformed Alertmanager payload: {exc}") from None
            if notification.receiver != receiver:
                raise HTTPException(400, "the payload's receiver does not match the URL's")
        except HTTPException:
            metrics.notifications.labels(label, "rejected").inc()
            raise
        try:
            result = await asyncio.wrap_future(writer.submit(notification, body))
        except StoreError as exc:
            health.record(False, str(exc))
            metrics.store_errors.inc()
            metrics.notifications.labels(label, "rejected").inc()
            return SafeJSONResponse(
                {"detail": f"could not store the notification, retry: {exc}"}, status_code=503
            )
        health.record(True)
        metrics.notifications.labels(label, "duplicate" if result.duplicate else "accepted").inc()
        for _action_id, action, status in result.created:
            if status in ("awaiting_approval", "suppressed", "recorded"):
                metrics.actions.labels(action, status).inc()
        return SafeJSONResponse(result.to_json())

    @app.get("/api/actions")
    def list_actions(
        status: str | None = None,
        action: str | None = None,
        alertname: str | None = None,
        limit: int = Query(100, ge=1, le=10000),
        offset: int = Query(0, ge=0, le=MAX_ID),
    ) -> list[dict[str, Any]]:
        return [_action_json(a) for a in store.list_actions(status, action, alertname, limit, offset)]

    @app.get("/api/actions/{action_id}")
    def get_action(action_id: ActionId) -> dict[str, Any]:
        found = store.get_action(action_id)
        if found is None:
            raise HTTPException(404, f"no action {action_id}")
        return {**_action_json(found), "ledger": store.ledger_for(action_id)}

    def decide(
        action_id: int,
        decision: Decision,
        operator: str,
        allowed: tuple[str, ...],
        new_status: str,
        event: str,
        via: str = "api",
    ) -> dict[str, Any]:
        if credentials.open:
            by = decision.by or operator
        elif decision.by not in (None, operator):
            raise HTTPException(403, "`by` must name the operator whose token is used (or be left out)")
        else:
            by = operator
        now = time.time()
        with store.transaction() as tx:
            found = tx.action(action_id, lock=True)
            if found is None:
                raise HTTPException(404, f"no action {action_id}")
            if found.status not in allowed:
                raise HTTPException(409, f"action {action_id} is {found.status!r}; {event} needs {allowed}")
            approved_by = by if event == "approved" else found.approved_by
            tx.decide(action_id, new_status, approved_by, now, reset_attempts=event == "retried")
            tx.ledger(
                event,
                {
                    "by": by,
                    "credential": "open" if credentials.open else "operator_token",
                    "comment": decision.comment,
                    "previous_status": found.status,
                    "via": via,
                },
                now,
                action_id=action_id,
            )
        metrics.actions.labels(found.action, event).inc()
        worker.wake()
        updated = store.get_action(action_id)
        assert updated is not None
        return _action_json(updated)

    @app.post("/api/actions/{action_id}/approve")
    def approve(action_id: ActionId, decision: Decision, operator: Operator) -> dict[str, Any]:
        return decide(action_id, decision, operator, ("awaiting_approval",), "pending", "approved")

    @app.post("/api/actions/{action_id}/reject")
    def reject(action_id: ActionId, decision: Decision, operator: Operator) -> dict[str, Any]:
        return decide(action_id, decision, operator, ("awaiting_approval",), "rejected", "rejected")

    @app.post("/api/actions/{action_id}/retry")
    def retry(action_id: ActionId, decision: Decision, operator: Operator) -> dict[str, Any]:
        return decide(action_id, decision, operator, ("failed",), "pending", "retried")

    def ui_authenticate(operator: str, secret: str) -> str | None:
        """The approvals page's sign-in: an operator's own token names its owner; the webhook token is
        no operator. Without credentials (tests of the open API only) the typed name is taken."""
        if credentials.open:
            return operator or None
        principal = credentials.identify(f"Bearer {secret}")
        return principal.name if principal is not None and principal.kind == "operator" else None

    def ui_decide(action_id: int, verdict: str, operator: str, comment: str) -> dict[str, Any]:
        decision = Decision(comment=comment)
        if verdict == "approve":
            return decide(action_id, decision, operator, ("awaiting_approval",), "pending", "approved", "ui")
        return decide(action_id, decision, operator, ("awaiting_approval",), "rejected", "rejected", "ui")

    def ui_preview(action: ActionRow) -> dict[str, Any]:
        adapter = worker.adapters.get(action.action)
        return adapter.preview(action) if adapter is not None else {"note": f"no adapter for {action.action}"}

    ui.install(
        app,
        store,
        ui.UiHooks(
            authenticate=ui_authenticate,
            decide=ui_decide,
            preview=ui_preview,
            ask_operator_name=credentials.open,
        ),
    )

    @app.get("/api/ledger")
    def ledger(
        after_id: int = Query(0, ge=0, le=MAX_ID), limit: int = Query(1000, ge=1, le=10000)
    ) -> list[dict[str, Any]]:
        return store.ledger_all(limit, after_id)

    @app.get("/readyz")
    def readyz() -> SafeJSONResponse:
        if health.writable() and writer.alive():
            return SafeJSONResponse({"status": "ready"})
        problem = f"store cannot commit: {health.error}" if health.error else "intake writer is not running"
        return SafeJSONResponse({"status": "not ready", "problems": [problem]}, status_code=503)

    @app.get("/healthz")
    def healthz() -> SafeJSONResponse:
        problems = []
        try:
            store.ping()
        except Exception as exc:
            problems.append(f"store: {exc}")
        else:
            if not health.writable():
                problems.append(f"store cannot commit: {health.error}")
        if not writer.alive():
            problems.append("intake writer thread is not running")
        if run_worker and not worker.alive():
            problems.append("outbox worker is not running")
        body = {
            "status": "ok" if not problems else "unhealthy",
            "problems": problems,
            "engine": store.engine,
            "receivers": sorted(config.receivers),
        }
        return SafeJSONResponse(body, status_code=200 if not problems else 503)

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> SafeJSONResponse:
        metrics.store_errors.inc()
        return SafeJSONResponse({"detail": f"database unavailable: {exc}"}, status_code=503)

    return app
