"""A fake SMMePlus integration endpoint for remote commands: `smmc fake smmeplus` (default port 9832).

SMMePlus' real integration API is not public; this is the API the receiver assumes (docs/receiver.md):

  POST /api/v1/commands            {"command": "time_sync", "target": {"concentrator": "...", "meter": "..."},
                                    "parameters": {...}, "reference": "...", "reason": "...",
                                    "requested_by": "...", "approved_by": null}
                                   header Idempotency-Key (required) -> 202 {"id", "status": "queued", ...};
                                   the same key again -> 200 with the command already accepted (no new one)
  GET  /api/v1/commands/{id}       -> 200 the command (status queued -> succeeded after --complete-after s)
  GET  /api/v1/commands?reference=R  -> 200 {"commands": [...]}
Errors: 401 (no/wrong bearer token), 404, 422 (unknown command, no target, no Idempotency-Key),
429 with Retry-After and 500 through injected faults.

Test controls: POST/DELETE /_fake/faults (same body as the fake JIRA's), GET /_fake/commands,
POST /_fake/reset.
"""

from __future__ import annotations

import hmac
import threading
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from simulator.fake_jira import Fault, answer_under_fault, serve_main, take_fault

COMMANDS = {
    "time_sync": "synchronise the meter or concentrator clock",
    "retry_last_activity": "run the last failed work-order activity again",
    "concentrator_modification": "re-send the concentrator's configuration (modification WO)",
    "recommission_meter": "decommission and commission the meter on its concentrator",
    "meter_status_check": "read the meter's status words on demand",
    "concentrator_status_check": "read the concentrator's status word on demand",
    "disconnect_meter": "open the meter's breaker (customer disconnection)",
    "reconnect_meter": "close the meter's breaker",
    "firmware_update": "push a firmware image",
}


def create_app(token: str | None = None, complete_after_seconds: float = 2.0) -> FastAPI:
    app = FastAPI(title="fake SMMePlus", docs_url=None, redoc_url=None)
    lock = threading.Lock()
    commands: dict[str, dict[str, Any]] = {}
    by_key: dict[str, str] = {}
    faults: list[Fault] = []
    app.state.commands = commands

    def view(cmd: dict[str, Any]) -> dict[str, Any]:
        out = dict(cmd)
        if out["status"] == "queued" and time.time() - out["accepted_at"] >= complete_after_seconds:
            out["status"] = "succeeded"
        return out

    @app.middleware("http")
    async def faults_and_auth(request: Request, call_next: Any) -> Response:
        if request.url.path.startswith("/_fake/"):
            return await call_next(request)
        if token is not None:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
                return JSONResponse(
                    {"error": "unauthorized"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
                )
        return await answer_under_fault(
            take_fault(faults, lock, request.method, request.url.path),
            request,
            call_next,
            lambda status, message, headers: JSONResponse(
                {"error": message}, status_code=status, headers=headers
            ),
        )

    @app.post("/api/v1/commands")
    async def submit(request: Request) -> JSONResponse:
        key = request.headers.get("idempotency-key", "")
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        if not key:
            return JSONResponse({"error": "Idempotency-Key header is required"}, status_code=422)
        command = body.get("command")
        if command not in COMMANDS:
            return JSONResponse(
                {"error": f"unknown command {command!r}", "known": sorted(COMMANDS)}, status_code=422
            )
        target = body.get("target") or {}
        if not (target.get("concentrator") or target.get("meter")):
            return JSONResponse({"error": "target needs a concentrator or a meter"}, status_code=422)
        with lock:
            if key in by_key:
                return JSONResponse(view(commands[by_key[key]]), status_code=200)
            cmd_id = f"cmd-{uuid.uuid4().hex[:12]}"
            commands[cmd_id] = {
                "id": cmd_id,
                "command": command,
                "description": COMMANDS[command],
                "target": target,
                "parameters": body.get("parameters") or {},
                "reference": body.get("reference"),
                "reason": body.get("reason"),
                "requested_by": body.get("requested_by"),
                "approved_by": body.get("approved_by"),
                "idempotency_key": key,
                "status": "queued",
                "accepted_at": time.time(),
            }
            by_key[key] = cmd_id
            return JSONResponse(
                view(commands[cmd_id]), status_code=202, headers={"Location": f"/api/v1/commands/{cmd_id}"}
            )

    @app.get("/api/v1/commands/{cmd_id}")
    def get_command(cmd_id: str) -> JSONResponse:
        with lock:
            cmd = commands.get(cmd_id)
            if cmd is None:
                return JSONResponse({"error": f"no command {cmd_id}"}, status_code=404)
            return JSONResponse(view(cmd))

    @app.get("/api/v1/commands")
    def list_commands(reference: str | None = None) -> JSONResponse:
        with lock:
            found = [view(c) for c in commands.values() if reference is None or c["reference"] == reference]
        return JSONResponse({"commands": found})

    @app.post("/_fake/faults")
    async def add_fault(request: Request) -> JSONResponse:
        fault = Fault(**(await request.json()))
        with lock:
            faults.append(fault)
        return JSONResponse({"faults": len(faults)}, status_code=201)

    @app.delete("/_fake/faults")
    def clear_faults() -> JSONResponse:
        with lock:
            faults.clear()
        return JSONResponse({"faults": 0})

    @app.get("/_fake/commands")
    def dump() -> JSONResponse:
        with lock:
            return JSONResponse([view(c) for c in commands.values()])

    @app.post("/_fake/reset")
    def reset() -> JSONResponse:
        with lock:
            commands.clear()
            by_key.clear()
            faults.clear()
        return JSONResponse({"reset": True})

    return app


def main(argv: list[str]) -> int:
    return serve_main(argv, "smmeplus", 9832, "SMMC_FAKE_SMMEPLUS_TOKEN", create_app)
