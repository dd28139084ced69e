"""Secrets out of logs: URLs with their userinfo and credential-like query parameters masked.

`redact_url(url)` for a URL the code logs itself; `redact_text(text)` for a message that may hold
URLs (an exception's text); `RedactingFilter` on a handler masks every record that passes it, the
HTTP client's own request lines included (`install_log_redaction()` puts it on the root handlers).
Used by the OpenGate and Cloudera exporters (through exporters.core.poller too) and the receiver: it
lives in the shared domain layer, which both may import (see the import-linter contracts).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "REDACTED"
# query parameter names that carry a credential (compared lower-case, `-` read as `_`)
SECRET_PARAMS = re.compile(
    r"(^|_)(access_?token|token|api_?key|apikey|key|secret|password|passwd|pwd|auth|authorization|"
    r"signature|sig|session|credential|credentials|client_secret|code)$"
)
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


def _secret_param(name: str) -> bool:
    return bool(SECRET_PARAMS.search(name.lower().replace("-", "_")))


def redact_url(url: str) -> str:
    """`url` with user and password, and the values of credential-like query parameters, masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_secret_param(k) for k, _ in pairs):
            query = urlencode([(k, MASK if _secret_param(k) else v) for k, v in pairs], safe="/:")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """Every URL in `text` redacted."""

    def one(match: re.Match[str]) -> str:
        url = match.group(0)
        trail = len(url) - len(url.rstrip(".,:;)]}"))
        return redact_url(url[: len(url) - trail]) + url[len(url) - trail :]

    return _URL.sub(one, text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with its URLs redacted (arguments are formatted first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "://" in message:
            redacted = redact_text(message)
            if redacted != message:
                record.msg, record.args = redacted, ()
        return True


def install_log_redaction() -> None:
    """Put a `RedactingFilter` on every handler of the root logger (after logging.basicConfig)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
