"""The fault switch of a fake API: what the next requests get instead of an answer (tests and demos).

`PUT /_fake/fault {"mode": ..., "count": N|null, "retry_after": s, "delay": s, "path_contains": "..."}`
sets it; `take(path)` hands the fault to one request (counting `count` down, then clearing it), and
`answer_with(path)` does so in a fake's middleware, where a `slow` fault only delays the request.
`fake_app` starts the ASGI app of a fake with a fault switch.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

MODES = ("none", "unauthorized", "forbidden", "rate_limit", "server_error", "slow", "malformed")


class FaultError(ValueError):
    pass


class FaultSwitch:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fault: dict[str, Any] = {"mode": "none"}

    def set(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("mode") not in MODES:
            raise FaultError(f"mode must be one of {', '.join(MODES)}")
        try:
            fault = {
                "mode": body["mode"],
                "count": None if body.get("count") is None else int(body["count"]),
                "retry_after": int(body.get("retry_after", 1)),
                "delay": float(body.get("delay", 5.0)),
                "path_contains": body.get("path_contains"),
            }
        except (TypeError, ValueError) as exc:
            raise FaultError(f"bad fault: {exc}") from exc
        with self.lock:
            self.fault = fault
        return dict(fault)

    def clear(self) -> dict[str, Any]:
        with self.lock:
            self.fault = {"mode": "none"}
        return dict(self.fault)

    def take(self, path: str) -> dict[str, Any] | None:
        with self.lock:
            fault = self.fault
            if fault.get("mode", "none") == "none":
                return None
            if fault.get("path_contains") and fault["path_contains"] not in path:
                return None
            if fault.get("count") is not None:
                if fault["count"] <= 0:
                    self.fault = {"mode": "none"}
                    return None
                fault["count"] -= 1
            return dict(fault)

    async def answer_with(self, path: str) -> dict[str, Any] | None:
        """The fault a request to `path` is answered with instead of its answer, if any; a `slow` fault
        waits its `delay` here and then lets the request be served."""
        fault = self.take(path)
        if fault is not None and fault["mode"] == "slow":
            await asyncio.sleep(fault["delay"])
            return None
        return fault


class FakeWithFaults(Protocol):
    faults: FaultSwitch
    stats: Counter[str]  # answers of the API by "path status", served at /_fake/stats


CallNext = Callable[[Request], Awaitable[Response]]  # the rest of the app, in a middleware
Serve = Callable[[Request, CallNext], Awaitable[Response]]


async def _call_next(request: Request, call_next: CallNext) -> Response:
    return await call_next(request)


def fake_app(
    title: str,
    fake: FakeWithFaults,
    *,
    api_prefix: str,
    fault_response: Callable[[dict[str, Any]], Response],
    stat_path: Callable[[str], str] = str,
    serve: Serve = _call_next,
) -> FastAPI:
    """The ASGI app of a fake API: no documentation pages, `app.state.fake` the fake behind it, and
    `DELETE /_fake/fault` clearing its fault switch (`PUT` sets it: each fake reads that body the way its
    API reads a body).

    A request under `api_prefix` gets the fault the switch hands it (`fault_response(fault)`), else
    `serve(request, call_next)` answers it (by default the route alone); either answer is counted in
    `fake.stats` under `stat_path(path)` and its status."""
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.fake = fake

    @app.middleware("http")
    async def faults_and_stats(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if not path.startswith(api_prefix):
            return await call_next(request)
        fault = await fake.faults.answer_with(path)
        response = fault_response(fault) if fault is not None else await serve(request, call_next)
        fake.stats[f"{stat_path(path)} {response.status_code}"] += 1
        return response

    @app.delete("/_fake/fault")
    async def clear_fault() -> Response:
        return JSONResponse(fake.faults.clear())

    return app
