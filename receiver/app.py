"""The receiver's HTTP API (FastAPI): webhooks in, the action ledger and approvals out.

POST /webhook/{receiver}      Alertmanager webhook (bearer token); 200 only after a durable commit
GET  /api/actions             actions, filterable by status, action, alertname (bearer token)
GET  /api/actions/{id}        one action with its ledger history
POST /api/actions/{id}/approve|reject|retry   human decisions, recorded with who made them
GET  /api/ledger              the audit ledger, in order (after_id, limit)
GET  /healthz                 store and threads alive
GET  /metrics                 Prometheus exposition
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from receiver.config import Config
from receiver.metrics import ReceiverMetrics
from receiver.payload import PayloadError, parse_notification
from receiver.store import ActionRow, Store, StoreError
from receiver.worker import OutboxWorker
from receiver.writer import IntakeWriter

DEFAULT_MAX_BODY = 4 * 1024 * 1024


class Decision(BaseModel):
    by: str = Field(min_length=1, max_length=200)
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
) -> FastAPI:
    """The HTTP surface over parts wired by `receiver.service.build_receiver`. `token=None` disables auth
    (tests of the open API only; the CLI refuses it)."""

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

    app = FastAPI(title="smmc receiver", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.config = config
    app.state.store = store
    app.state.worker = worker
    app.state.writer = writer
    app.state.metrics = metrics

    def authorise(request: Request) -> None:
        if token is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

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
    async def webhook(receiver: str, request: Request) -> JSONResponse:
        known = receiver in config.receivers
        label = receiver if known else "unknown"
        try:
            authorise(request)
            if not known:
                raise HTTPException(404, f"unknown receiver {receiver!r} (known: {sorted(config.receivers)})")
            body = await read_body(request)
            try:
                notification = parse_notification(body)
            except PayloadError as exc:
                raise HTTPException(400, f"malformed Alertmanager payload: {exc}") from exc
            if notification.receiver != receiver:
                raise HTTPException(
                    400, f"payload receiver {notification.receiver!r} does not match the URL's {receiver!r}"
                )
        except HTTPException:
            metrics.notifications.labels(label, "rejected").inc()
            raise
        try:
            result = await asyncio.wrap_future(writer.submit(notification, body))
        except StoreError as exc:
            metrics.store_errors.inc()
            metrics.notifications.labels(label, "rejected").inc()
            return JSONResponse(
                {"detail": f"could not store the notification, retry: {exc}"}, status_code=503
            )
        metrics.notifications.labels(label, "duplicate" if result.duplicate else "accepted").inc()
        for _action_id, action, status in result.created:
            if status in ("awaiting_approval", "suppressed", "recorded"):
                metrics.actions.labels(action, status).inc()
        return JSONResponse(result.to_json())

    @app.get("/api/actions")
    def list_actions(
        request: Request,
        status: str | None = None,
        action: str | None = None,
        alertname: str | None = None,
        limit: int = Query(100, ge=1, le=10000),
        offset: int = Query(0, ge=0),
    ) -> list[dict[str, Any]]:
        authorise(request)
        return [_action_json(a) for a in store.list_actions(status, action, alertname, limit, offset)]

    @app.get("/api/actions/{action_id}")
    def get_action(action_id: int, request: Request) -> dict[str, Any]:
        authorise(request)
        found = store.get_action(action_id)
        if found is None:
            raise HTTPException(404, f"no action {action_id}")
        return {**_action_json(found), "ledger": store.ledger_for(action_id)}

    def decide(
        action_id: int,
        decision: Decision,
        request: Request,
        allowed: tuple[str, ...],
        new_status: str,
        event: str,
    ) -> dict[str, Any]:
        authorise(request)
        now = time.time()
        with store.transaction() as tx:
            found = tx.action(action_id, lock=True)
            if found is None:
                raise HTTPException(404, f"no action {action_id}")
            if found.status not in allowed:
                raise HTTPException(409, f"action {action_id} is {found.status!r}; {event} needs {allowed}")
            approved_by = decision.by if event == "approved" else found.approved_by
            tx.decide(action_id, new_status, approved_by, now, reset_attempts=event == "retried")
            tx.ledger(
                event,
                {"by": decision.by, "comment": decision.comment, "previous_status": found.status},
                now,
                action_id=action_id,
            )
        metrics.actions.labels(found.action, event).inc()
        worker.wake()
        updated = store.get_action(action_id)
        assert updated is not None
        return _action_json(updated)

    @app.post("/api/actions/{action_id}/approve")
    def approve(action_id: int, decision: Decision, request: Request) -> dict[str, Any]:
        return decide(action_id, decision, request, ("awaiting_approval",), "pending", "approved")

    @app.post("/api/actions/{action_id}/reject")
    def reject(action_id: int, decision: Decision, request: Request) -> dict[str, Any]:
        return decide(action_id, decision, request, ("awaiting_approval",), "rejected", "rejected")

    @app.post("/api/actions/{action_id}/retry")
    def retry(action_id: int, decision: Decision, request: Request) -> dict[str, Any]:
        return decide(action_id, decision, request, ("failed",), "pending", "retried")

    @app.get("/api/ledger")
    def ledger(
        request: Request, after_id: int = Query(0, ge=0), limit: int = Query(1000, ge=1, le=10000)
    ) -> list[dict[str, Any]]:
        authorise(request)
        return store.ledger_all(limit, after_id)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        problems = []
        try:
            store.ping()
        except Exception as exc:
            problems.append(f"store: {exc}")
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
        return JSONResponse(body, status_code=200 if not problems else 503)

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> JSONResponse:
        metrics.store_errors.inc()
        return JSONResponse({"detail": f"database unavailable: {exc}"}, status_code=503)

    return app
