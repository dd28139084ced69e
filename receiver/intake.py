"""Intake: a webhook notification -> the actions it implies, written in one transaction.

Idempotency: a notification's content key (the alerts and their states) makes an identical retry or an
HA peer's copy a no-op; each action's key (receiver, fingerprint, startsAt, phase) makes one firing episode
give one action, and a re-fire after resolution (a new startsAt) a new one. Storm mode folds a burst of
ticket-like actions of one kind into one parent incident, decided here so it is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from receiver import keys
from receiver.config import TICKET_TYPES, Config, render
from receiver.payload import Alert, Notification
from receiver.store import PlannedAction, Tx

__all__ = ["IntakeResult", "PlannedAction", "ingest", "normalise_time", "plan", "plan_alert"]


@dataclass
class IntakeResult:
    duplicate: bool
    notification_id: int | None
    created: list[tuple[int, str, str]] = field(default_factory=list)  # (action id, action, status)
    storms: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": "duplicate" if self.duplicate else "accepted",
            "notification_id": self.notification_id,
            "actions": [{"id": i, "action": a, "status": s} for i, a, s in self.created],
        }


def normalise_time(value: str) -> str:
    """RFC 3339 -> UTC ISO text with microseconds, so two senders' spellings of one instant agree."""
    return (
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        .astimezone(UTC)
        .isoformat(timespec="microseconds")
    )


def plan_alert(config: Config, receiver: str, alert: Alert) -> PlannedAction:
    labels = dict(alert.labels)
    annotations = dict(alert.annotations)
    rule = config.route(labels)
    action_type = config.action_types[rule.action]
    params = render(rule.params, labels, annotations)
    fingerprint = alert.stable_fingerprint()
    starts_at = normalise_time(alert.startsAt)
    phase = "fire" if alert.status == "firing" else "resolve"
    command = str(params.get("command", "")) if rule.action == "smmeplus_command" else ""
    approval = phase == "fire" and (rule.approval or command in action_type.approval_required_for)
    if rule.action == "record" or (phase == "resolve" and rule.action not in TICKET_TYPES):
        # nothing to do outside: a resolved remote command or a record-only alert is a ledger entry
        status = "recorded"
    elif approval:
        status = "awaiting_approval"
    else:
        status = "pending"
    storm = action_type.storm
    storm_key = None
    if storm is not None and phase == "fire":
        storm_key = rule.action + ":" + ",".join(f"{k}={labels.get(k, '')}" for k in storm.group_by)
    return PlannedAction(
        idem_key=keys.action_key(receiver, fingerprint, starts_at, phase),
        receiver=receiver,
        fingerprint=fingerprint,
        starts_at=starts_at,
        phase=phase,
        alertname=alert.alertname,
        rule=rule.name,
        action=rule.action,
        params=params,
        labels=labels,
        annotations=annotations,
        correlation_key=keys.correlation_key(config.correlation_labels, labels),
        storm_key=storm_key,
        status=status,
        approval_required=approval,
        dry_run=action_type.dry_run,
    )


def plan(config: Config, notification: Notification, forward_url: str | None = None) -> list[PlannedAction]:
    """The actions a notification implies, before deduplication against the store."""
    kind = config.receivers[notification.receiver].kind
    if kind == "actions":
        return [plan_alert(config, notification.receiver, a) for a in notification.alerts]
    if kind == "notify":
        key = notification.content_key()
        common = dict(notification.commonLabels)
        return [
            PlannedAction(
                idem_key=keys.notify_key(notification.receiver, key),
                receiver=notification.receiver,
                fingerprint=key[:16],
                starts_at=normalise_time(min(a.startsAt for a in notification.alerts))
                if notification.alerts
                else "",
                phase="notify",
                alertname=common.get("alertname", notification.groupLabels.get("alertname", "")),
                rule="noc-notify",
                action="notify",
                params={
                    "url_configured": bool(forward_url),
                    "status": notification.status,
                    "alerts": len(notification.alerts),
                },
                labels=common,
                annotations=dict(notification.commonAnnotations),
                correlation_key=key[:20],
                storm_key=None,
                status="pending" if forward_url else "recorded",
                approval_required=False,
                dry_run=config.action_types["notify"].dry_run,
            )
        ]
    return []  # watchdog: only its heartbeat is recorded


def ingest(tx: Tx, config: Config, notification: Notification, body: bytes, now: float) -> IntakeResult:
    """Write one notification and its new actions inside the caller's transaction."""
    receiver = config.receivers[notification.receiver]
    nid = tx.insert_notification(
        notification.content_key(),
        notification.receiver,
        notification.groupKey,
        notification.status,
        len(notification.alerts),
        now,
        body.decode("utf-8", errors="replace"),
    )
    if receiver.kind == "watchdog":
        # every repeat of the Watchdog is a heartbeat, also when its content repeats the previous one
        tx.set_state("watchdog_last_seen", now)
    if nid is None:
        return IntakeResult(duplicate=True, notification_id=None)
    result = IntakeResult(duplicate=False, notification_id=nid)
    tx.ledger(
        "notification_received",
        {
            "receiver": notification.receiver,
            "group_key": notification.groupKey,
            "status": notification.status,
            "alerts": len(notification.alerts),
        },
        now,
        notification_id=nid,
    )
    if receiver.kind == "watchdog":
        return result

    planned = plan(config, notification, receiver.forward_url)
    fresh = [p for p in planned if not tx.action_exists(p.idem_key)]
    storm_of = _storm_decisions(tx, config, fresh, nid, now, result)
    for p in fresh:
        parent = storm_of.get(p.idem_key)
        status = "suppressed" if parent is not None else p.status
        action_id = tx.insert_action(p, nid, now, status, parent)
        if action_id is None:  # a concurrent writer (another receiver on PostgreSQL) got there first
            continue
        detail = {
            "rule": p.rule,
            "action": p.action,
            "params": p.params,
            "phase": p.phase,
            "fingerprint": p.fingerprint,
            "starts_at": p.starts_at,
            "status": status,
            "correlation_key": p.correlation_key,
        }
        if parent is not None:
            detail["reason"] = "storm"
            detail["storm_parent_id"] = parent
        if p.approval_required:
            detail["approval_required"] = True
        tx.ledger("action_planned", detail, now, action_id=action_id, notification_id=nid)
        result.created.append((action_id, p.action, status))
        if p.phase == "resolve":
            _cancel_unsent(tx, p, now)
    return result


def _cancel_unsent(tx: Tx, resolved: PlannedAction, now: float) -> None:
    """An alert resolved before its action was approved (or, for a remote command, sent): the action is
    moot. A remote command on a problem that went away must not run late; a ticket still opens, because
    the resolution then comments on it."""
    fire = tx.action_by_key(keys.fire_key(resolved))
    if fire is None:
        return
    status = fire.status
    if status == "awaiting_approval" or (
        status in ("pending", "retry") and fire.action == "smmeplus_command"
    ):
        tx.suppress(fire.id, now)
        tx.ledger(
            "suppressed",
            {
                "reason": "resolved_before_" + ("approval" if status == "awaiting_approval" else "dispatch"),
                "previous_status": status,
            },
            now,
            action_id=fire.id,
        )


def _storm_decisions(
    tx: Tx, config: Config, fresh: list[PlannedAction], nid: int, now: float, result: IntakeResult
) -> dict[str, int]:
    """Which new actions a storm swallows: idem_key -> parent action id."""
    by_key: dict[str, list[PlannedAction]] = {}
    for p in fresh:
        if p.storm_key and p.status == "pending":
            by_key.setdefault(p.storm_key, []).append(p)
    decisions: dict[str, int] = {}
    for storm_key, batch in by_key.items():
        storm = config.action_types[batch[0].action].storm
        assert storm is not None
        tx.lock_key(storm_key)
        since = now - storm.window_seconds
        open_storm = tx.open_storm(storm_key, since)
        recent = tx.storm_fires_since(storm_key, since)
        if open_storm is None and recent + len(batch) <= storm.threshold:
            continue
        if open_storm is None:
            storm_id, parent_id = _open_storm(tx, config, storm_key, batch[0], nid, now, recent + len(batch))
            result.storms.append(storm_id)
            result.created.append((parent_id, batch[0].action, "pending"))
            # earlier actions of this kind still waiting in the outbox join the storm too
            for action_id in tx.storm_waiting(storm_key, since):
                tx.suppress(action_id, now, parent_id)
                tx.ledger(
                    "storm_suppressed",
                    {"reason": "storm", "storm_parent_id": parent_id},
                    now,
                    action_id=action_id,
                )
        else:
            storm_id, parent_id = open_storm
            tx.extend_storm(storm_id, now, len(batch))
        for p in batch:
            decisions[p.idem_key] = int(parent_id)
    return decisions


def _open_storm(
    tx: Tx, config: Config, storm_key: str, first: PlannedAction, nid: int, now: float, count: int
) -> tuple[int, int]:
    """Open a storm on `storm_key`: (storm id, id of its parent action)."""
    storm_id = tx.insert_storm(storm_key, first.action, now, count)
    storm_cfg = config.action_types[first.action].storm
    assert storm_cfg is not None
    group = {k: first.labels.get(k, "") for k in storm_cfg.group_by}
    parent = PlannedAction(
        idem_key=keys.storm_action_key(storm_id, storm_key),
        receiver=first.receiver,
        fingerprint=f"storm-{storm_id}",
        starts_at=first.starts_at,
        phase="storm",
        alertname=first.alertname,
        rule=first.rule,
        action=first.action,
        params={**first.params, "storm_id": storm_id, "storm_group": group},
        labels=group,
        annotations={"summary": f"Storm: many {first.alertname} alerts at once"},
        correlation_key=keys.storm_correlation_key(storm_id),
        storm_key=None,
        status="pending",
        approval_required=False,
        dry_run=first.dry_run,
    )
    parent_id = tx.insert_action(parent, nid, now, "pending")
    assert parent_id is not None
    tx.set_storm_parent(storm_id, parent_id)
    tx.ledger(
        "storm_opened",
        {
            "storm_id": storm_id,
            "storm_key": storm_key,
            "alerts": count,
            "threshold": storm_cfg.threshold,
            "window_seconds": storm_cfg.window_seconds,
        },
        now,
        action_id=parent_id,
        notification_id=nid,
    )
    return storm_id, parent_id
