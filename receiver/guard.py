"""The receiver's front door: authentication and body size, checked before any body is read.

A pure ASGI middleware in front of FastAPI. For each request it finds the endpoint's policy (which
credential, how many body bytes), answers 401/403 before a byte of the body is read, 413 when the
declared Content-Length is above the limit (the server's framing then stops the body at that length),
and reads a body sent without a length (chunked) itself, up to the limit, before the app sees it,
answering 413 as soon as it passes the limit. Nothing the caller sent is echoed in these answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

from receiver.auth import PRINCIPAL_STATE_KEY, Credentials

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

Need = Literal["none", "webhook", "reader", "operator"]
DECISION_BODY_BYTES = 16 * 1024
SMALL_BODY_BYTES = 16 * 1024
_DECISION = re.compile(r"^/api/actions/[^/]+/(approve|reject|retry)$")
_OPEN = ("/healthz", "/readyz", "/metrics")


@dataclass(frozen=True)
class Policy:
    need: Need
    max_body: int


def policy_for(method: str, path: str, webhook_max_body: int) -> Policy:
    """Which credential and how large a body each endpoint takes. Unknown paths need a reader."""
    if path in _OPEN and method in ("GET", "HEAD"):
        return Policy("none", 0)
    if path.startswith("/webhook/"):
        return Policy("webhook", webhook_max_body)
    if _DECISION.match(path):
        return Policy("operator", DECISION_BODY_BYTES)
    if path == "/ui" or path.startswith("/ui/"):
        # the approvals page: its own sign-in with an operator token, then a session cookie and a CSRF
        # token on every form (receiver/ui.py); a browser sends no bearer header
        return Policy("none", SMALL_BODY_BYTES)
    return Policy("reader", SMALL_BODY_BYTES)


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        credentials: Credentials,
        webhook_max_body: int,
        on_reject: Callable[[Scope, int], None] | None = None,
    ) -> None:
        self.app = app
        self.credentials = credentials
        self.webhook_max_body = webhook_max_body
        self.on_reject = on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = policy_for(scope["method"], scope["path"], self.webhook_max_body)
        refusal = self._authorise(scope, policy)
        if refusal is None:
            refusal = self._declared_size(scope, policy)
        if refusal is not None:
            status, detail, headers = refusal
            if self.on_reject is not None:
                self.on_reject(scope, status)
            await _answer(send, status, detail, headers)
            return

        if _header(scope, b"content-length") is None and _header(scope, b"transfer-encoding"):
            # a body without a declared length (chunked): read it here, up to the limit, and replay it
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > policy.max_body:
                    if self.on_reject is not None:
                        self.on_reject(scope, 413)
                    await _answer(send, 413, _too_large(policy.max_body), {})
                    return
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)

    def _authorise(self, scope: Scope, policy: Policy) -> tuple[int, str, dict[str, str]] | None:
        if policy.need == "none" or self.credentials.open:
            return None
        principal = self.credentials.identify(_header(scope, b"authorization"))
        if principal is None:
            return 401, "missing or wrong bearer token", {"www-authenticate": "Bearer"}
        scope.setdefault("state", {})[PRINCIPAL_STATE_KEY] = principal
        if policy.need == "webhook" and principal.kind != "webhook":
            return 403, "only Alertmanager's webhook token posts notifications", {}
        if policy.need == "operator" and principal.kind != "operator":
            return 403, "decisions need an operator's own token, not the webhook token", {}
        return None

    @staticmethod
    def _declared_size(scope: Scope, policy: Policy) -> tuple[int, str, dict[str, str]] | None:
        declared = _header(scope, b"content-length")
        if declared is None:
            return None
        if not declared.isdigit() or len(declared) > 18:
            return 400, "Content-Length is not a number of bytes", {}
        if int(declared) > policy.max_body:
            return 413, _too_large(policy.max_body), {}
        return None


def _too_large(limit: int) -> str:
    return f"body larger than {limit} bytes" if limit else "this endpoint takes no body"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


async def _answer(send: Send, status: int, detail: str, headers: dict[str, str]) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in headers.items()]
    if status == 413:
        raw.append((b"connection", b"close"))  # the unread body is not drained
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
