"""The keys that tie an alert episode to its actions, shared by the intake, the worker and the adapters.

An action's idempotency key is one per receiver, alert episode (fingerprint + startsAt) and phase; the
resolution of an episode finds its firing action through `fire_key`. The JIRA adapter marks its tickets
with `episode_label` (this episode) and `correlation_label` (the same problem on the same object).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Protocol


class Episode(Protocol):
    """Anything that names an alert episode (a planned action, an outbox row)."""

    @property
    def receiver(self) -> str: ...

    @property
    def fingerprint(self) -> str: ...

    @property
    def starts_at(self) -> str: ...


def digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def action_key(receiver: str, fingerprint: str, starts_at: str, phase: str) -> str:
    """Idempotency key of one action: one per receiver, alert episode (fingerprint + startsAt) and phase."""
    return digest(receiver, fingerprint, starts_at, phase)


def fire_key(episode: Episode) -> str:
    """The idempotency key of the firing action of `episode`."""
    return action_key(episode.receiver, episode.fingerprint, episode.starts_at, "fire")


def notify_key(receiver: str, content_key: str) -> str:
    """Idempotency key of a forwarded notification (one per notification content)."""
    return digest(receiver, content_key, "notify")


def correlation_key(correlation_labels: Iterable[str], labels: dict[str, str]) -> str:
    """Hash of the business key: the object labels the alert has, of those actions.yml names."""
    parts = [f"{name}={labels[name]}" for name in correlation_labels if labels.get(name)]
    return digest(*parts)[:20]


def storm_action_key(storm_id: int, storm_key: str) -> str:
    """Idempotency key of a storm's parent action."""
    return digest("storm", str(storm_id), storm_key)


def storm_correlation_key(storm_id: int) -> str:
    return digest("storm", str(storm_id))[:20]


def episode_label(idem_key: str) -> str:
    """The JIRA label that marks the ticket of the action with this idempotency key."""
    return f"smmc-ep-{idem_key[:20]}"


def correlation_label(correlation: str) -> str:
    """The JIRA label shared by every ticket about the same problem on the same object."""
    return f"smmc-{correlation}"
