"""Who may call the receiver: Alertmanager's webhook token and the operators' personal tokens.

Two kinds of credential, never interchangeable:
- the webhook token (one, shared with Alertmanager): posts notifications and reads the API;
- operator tokens (one per person, read from files): decide on actions (approve, reject, retry) and
  read the API. The operator's name comes from the credential, not from the request, and is what the
  ledger records as `by`.

A token shorter than `MIN_TOKEN_LENGTH` characters is refused at start, and so is an operator token
equal to the webhook token or to another operator's.

`require_operator` is the FastAPI dependency every human-decision endpoint uses (the approvals page
too): it answers 401 without a credential, 403 for the webhook token, and returns the operator's name.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fastapi import HTTPException, Request

MIN_TOKEN_LENGTH = 16
OPERATOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
PRINCIPAL_STATE_KEY = "smmc_principal"


class CredentialError(ValueError):
    """A token or an operator file is unusable (the receiver refuses to start)."""


@dataclass(frozen=True)
class Principal:
    kind: Literal["webhook", "operator"]
    name: str


def check_token(token: str, what: str) -> str:
    """The token, stripped; `CredentialError` when it is too short to resist guessing."""
    token = token.strip()
    if len(token) < MIN_TOKEN_LENGTH:
        raise CredentialError(
            f"{what} is {len(token)} characters long; at least {MIN_TOKEN_LENGTH} are required "
            "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
        )
    if any(ch.isspace() or not ch.isprintable() for ch in token):
        raise CredentialError(f"{what} contains white space or control characters")
    return token


def load_operator_tokens(path: str | Path) -> dict[str, str]:
    """Operator name -> token, from a directory (one file per person, named after the person, holding
    the token; how Kubernetes and Docker mount secrets) or from one file of `name: token` lines."""
    root = Path(path)
    entries: list[tuple[str, str, str]] = []  # (name, token, where)
    if root.is_dir():
        for item in sorted(root.iterdir()):
            if item.name.startswith(".") or not item.is_file():
                continue  # Kubernetes' ..data links and hidden files
            entries.append((item.name, item.read_text(encoding="utf-8"), str(item)))
    elif root.is_file():
        for number, line in enumerate(root.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, sep, token = line.partition(":")
            if not sep:
                raise CredentialError(f"{root}:{number}: expected `name: token`")
            entries.append((name.strip(), token, f"{root}:{number}"))
    else:
        raise CredentialError(f"operator tokens: {root} is neither a directory nor a file")
    operators: dict[str, str] = {}
    for name, token, where in entries:
        if not OPERATOR_NAME.match(name):
            raise CredentialError(f"{where}: operator name {name[:64]!r} must match {OPERATOR_NAME.pattern}")
        if name in operators:
            raise CredentialError(f"{where}: operator {name} is listed twice")
        operators[name] = check_token(token, f"operator token of {name} ({where})")
    if not operators:
        raise CredentialError(f"operator tokens: {root} lists no operator")
    return operators


class Credentials:
    """The receiver's credentials. With no webhook token and no operator (tests of the open API only;
    the CLI refuses it) every caller is let in and decisions take `by` from the request."""

    def __init__(self, webhook_token: str | None, operators: Mapping[str, str] | None = None) -> None:
        self.webhook_token = webhook_token
        self.operators = dict(operators or {})
        tokens = [t for t in (webhook_token, *self.operators.values()) if t is not None]
        if len(set(tokens)) != len(tokens):
            raise CredentialError("every operator token must differ from the webhook token and the others")
        self._tokens = [(t.encode(), Principal("webhook", "alertmanager")) for t in [webhook_token] if t]
        self._tokens += [(t.encode(), Principal("operator", n)) for n, t in sorted(self.operators.items())]

    @property
    def open(self) -> bool:
        return not self._tokens

    def identify(self, authorization: str | None) -> Principal | None:
        """The principal whose bearer token the `Authorization` header carries, or None."""
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        presented = given.strip().encode("utf-8", "replace")
        found = None
        for token, principal in self._tokens:  # compare with every token: the time tells nothing
            if hmac.compare_digest(presented, token):
                found = principal
        return found


def principal_of(request: Request) -> Principal | None:
    """The principal the guard middleware authenticated for this request."""
    return request.scope.get("state", {}).get(PRINCIPAL_STATE_KEY)


def require_operator(request: Request) -> str:
    """FastAPI dependency: the name of the operator making this request (401/403 otherwise).

    With open credentials (tests only) it answers the placeholder "anonymous"."""
    credentials: Credentials = request.app.state.credentials
    if credentials.open:
        return "anonymous"
    principal = principal_of(request) or credentials.identify(request.headers.get("authorization"))
    if principal is None:
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
    if principal.kind != "operator":
        raise HTTPException(403, "decisions need an operator's own token, not the webhook token")
    return principal.name
