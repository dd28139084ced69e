"""The Alertmanager webhook payload (version 4), parsed strictly where it matters and open elsewhere.

Unknown fields are allowed (newer Alertmanager releases add some); missing or mistyped required fields
give a readable reason for the 400 answer.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ZERO_TIME_PREFIX = "0001-01-01"


class PayloadError(ValueError):
    """The body is not a usable Alertmanager webhook payload."""


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
            raise ValueError(f"unsupported webhook version {v!r} (this receiver speaks version 4)")
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
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"not an RFC 3339 time: {value!r}") from exc


def parse_notification(body: bytes) -> Notification:
    """Parse a webhook body; raise PayloadError with a short, specific reason."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object")
    try:
        return Notification.model_validate(data)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise PayloadError(reasons) from exc
