"""The Alertmanager webhook payload (version 4), parsed strictly where it matters and open elsewhere.

Unknown fields are allowed (newer Alertmanager releases add some); missing or mistyped required fields
give a readable reason for the 400 answer. Whatever the body holds, parsing ends in a `Notification` or a
`PayloadError` (400; `PayloadTooLarge`, 413, for too many alerts), never another exception: nesting
too deep, integers too long, duplicate keys, lone surrogates and times that cannot be expressed in UTC
are refused here, before anything is stored. Reasons name the field, never quote its value.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ZERO_TIME_PREFIX = "0001-01-01"
DEFAULT_MAX_ALERTS = 2000
MAX_DEPTH = 32


class PayloadError(ValueError):
    """The body is not a usable Alertmanager webhook payload."""


class PayloadTooLarge(PayloadError):
    """More alerts in one notification than the receiver takes (413)."""


class Alert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str
    endsAt: str = ""
    generatorURL: str = ""
    fingerprint: str = ""

    @field_validator("startsAt")
    @classmethod
    def _starts_at_is_time(cls, v: str) -> str:
        _parse_time(v)
        return v

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    def stable_fingerprint(self) -> str:
        """Alertmanager's fingerprint, or (older senders without one) a hash of the sorted labels."""
        if self.fingerprint:
            return self.fingerprint
        text = "\xff".join(f"{k}\xff{v}" for k, v in sorted(self.labels.items()))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class Notification(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: str
    groupKey: str = ""
    truncatedAlerts: int = 0
    status: Literal["firing", "resolved"]
    receiver: str
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[Alert]

    @field_validator("version")
    @classmethod
    def _version_4(cls, v: str) -> str:
        if v != "4":
            raise ValueError("unsupported webhook version (this receiver speaks version 4)")
        return v

    def content_key(self) -> str:
        """Identity of the notification's content: the same alerts in the same states.

        Ignores externalURL, groupKey formatting and truncation counters, so the copy an HA peer sends,
        and Alertmanager's own retries and repeat notifications, get the same key.
        """
        items = sorted(
            (a.stable_fingerprint(), a.status, a.startsAt, a.endsAt if a.status == "resolved" else "")
            for a in self.alerts
        )
        blob = json.dumps([self.receiver, items], separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def _parse_time(value: str) -> datetime:
    """An RFC 3339 time with its offset, that can also be written in UTC (years 1 to 9999 there)."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError("not an RFC 3339 time") from None if len(value) > 64 else exc
    if parsed.tzinfo is None:
        raise ValueError("an RFC 3339 time needs its offset (Z or +hh:mm)")
    try:
        parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("time out of range once written in UTC") from None
    return parsed


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise PayloadError(f"duplicate key {twice[:64]!r} in a JSON object")
    return obj


def _depth_within(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


def decode_json(body: bytes) -> Any:
    """JSON text -> value; `PayloadError` for anything this receiver will not store."""
    try:
        data = json.loads(body, object_pairs_hook=_no_duplicate_keys)
    except PayloadError:
        raise
    except RecursionError:
        raise PayloadError("body is nested too deeply") from None
    except UnicodeDecodeError:
        raise PayloadError("body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # an integer past Python's 4,300-digit conversion limit
        raise PayloadError(f"body holds an unusable number: {str(exc)[:120]}") from None
    if not _depth_within(data, MAX_DEPTH):
        raise PayloadError(f"body is nested deeper than {MAX_DEPTH} levels")
    if b"\\u" in body or b"\\U" in body:
        try:  # a \uD800-style escape can leave a lone surrogate, which no database column stores
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise PayloadError("a string holds a lone UTF-16 surrogate (invalid Unicode)") from None
    return data


def parse_notification(body: bytes, max_alerts: int = DEFAULT_MAX_ALERTS) -> Notification:
    """Parse a webhook body; raise PayloadError with a short, specific reason."""
    data = decode_json(body)
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object")
    alerts = data.get("alerts")
    if isinstance(alerts, list) and len(alerts) > max_alerts:
        raise PayloadTooLarge(
            f"{len(alerts)} alerts in one notification; this receiver takes at most {max_alerts} "
            "(set max_alerts in Alertmanager's webhook_config to the same number)"
        )
    try:
        return Notification.model_validate(data)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p)[:64] for p in err['loc']) or 'body'}: {err['msg'][:200]}"
            for err in exc.errors(include_input=False, include_url=False)[:5]
        )
        raise PayloadError(reasons) from None
