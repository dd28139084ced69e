"""Retry-After (RFC 9110 §10.2.3), read once for every HTTP client of the project (pollers, adapters)."""

from __future__ import annotations

import email.utils
import math
import time


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait: delta-seconds (a decimal is accepted; a negative one is 0) or an HTTP date (0 when
    past). None when absent or unreadable, so the caller falls back to its own backoff."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
