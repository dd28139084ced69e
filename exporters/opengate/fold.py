"""From OpenGate search results to the exporter's state: one row per modem, SIM and alarm counts.

OpenGate wraps every datastream value in `{"_current": {"value", "date", "at", "source"}}` at the
datastream's path; `[]` in a path walks an array (the router's communication modules), and the first
element carrying the value wins. A record without an identifier is skipped and counted by reason; a
value of the wrong type is dropped (that one sample is missing) and counted, never fatal.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from exporters.opengate.config import Datastreams

CLOSED = "CLOSED"


def current(doc: Any, path: str) -> dict[str, Any] | None:
    """The `_current` envelope at a datastream path, or None."""
    return _walk(doc, path.split("."))


def _walk(node: Any, parts: list[str]) -> dict[str, Any] | None:
    for index, part in enumerate(parts):
        if part.endswith("[]"):
            items = node.get(part[:-2]) if isinstance(node, dict) else None
            if not isinstance(items, list):
                return None
            for item in items:
                found = _walk(item, parts[index + 1 :])
                if found is not None:
                    return found
            return None
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return None
    envelope = node.get("_current") if isinstance(node, dict) else None
    return envelope if isinstance(envelope, dict) else None


def value(doc: Any, path: str) -> Any:
    envelope = current(doc, path)
    return None if envelope is None else envelope.get("value")


def parse_time(text: Any) -> float | None:
    """ISO-8601 (`2021-10-06T21:31:17.000Z`) -> epoch seconds; None when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        return None
    if when.tzinfo is None:  # OpenGate sends UTC when asked with utc=true
        return when.replace(tzinfo=UTC).timestamp()
    return when.timestamp()


@dataclass(frozen=True)
class Modem:
    id: str
    unified_presence: str | None
    presence_source: str | None
    presence_timestamp: float | None
    ip_presence: float | None
    rtt_seconds: float | None
    sent_bytes: float | None
    received_bytes: float | None
    traffic_timestamp: float | None
    month_sent_bytes: float | None
    month_received_bytes: float | None
    sessions_started: float | None
    ip: str
    apn: str
    signal_dbm: float | None
    iccid: str
    imsi: str
    msisdn: str
    admin_state: str
    latitude: str
    longitude: str
    sim_state: str | None  # the SIM's administrative state (ACTIVE, SUSPENDED, ...); None when unknown

    @property
    def present(self) -> float | None:
        return None if self.unified_presence is None else float(self.unified_presence == "IP")


@dataclass
class FleetState:
    modems: list[Modem] = field(default_factory=list)
    sims: Counter[str] = field(default_factory=Counter)
    alarms: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    open_alarms: set[tuple[str, str, str]] = field(default_factory=set)
    # (entity, rule, severity) -> opening date of its oldest alarm not closed
    open_since: dict[tuple[str, str, str], float] = field(default_factory=dict)
    sim_alarms: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    sim_open_since: dict[tuple[str, str, str], float] = field(default_factory=dict)
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)


def _number(envelope_value: Any, state: FleetState, kind: str) -> float | None:
    if envelope_value is None:
        return None
    if isinstance(envelope_value, bool) or not isinstance(envelope_value, int | float | str):
        state.rejected[(kind, "invalid_value")] += 1
        return None
    try:
        number = float(envelope_value)
    except ValueError:
        state.rejected[(kind, "invalid_value")] += 1
        return None
    if not math.isfinite(number):
        state.rejected[(kind, "invalid_value")] += 1
        return None
    return number


def _text(raw: Any) -> str:
    return "" if raw is None or isinstance(raw, dict | list) else str(raw)


def _coordinates(location: Any) -> tuple[str, str]:
    """GeoJSON `position.coordinates` is [longitude, latitude]."""
    try:
        lon, lat = location["position"]["coordinates"][:2]
        return format(float(lat), "g"), format(float(lon), "g")
    except (KeyError, TypeError, ValueError, IndexError):
        return "", ""


def _address(raw: Any, state: FleetState) -> tuple[str, str]:
    """OpenGate's address object `{type, value, apn}` -> (ip, apn); ("", "") when absent or unreadable."""
    if raw is None:
        return "", ""
    if not isinstance(raw, dict) or not isinstance(raw.get("value"), str):
        state.rejected[("device", "invalid_value")] += 1
        return "", ""
    return raw["value"], _text(raw.get("apn"))


def fold_device(doc: dict[str, Any], ds: Datastreams, state: FleetState) -> Modem | None:
    d = ds.devices
    ident = value(doc, d["identifier"])
    if not isinstance(ident, str) or not ident:
        state.rejected[("device", "no_identifier")] += 1
        return None
    presence = current(doc, d["unified_presence"]) or {}
    unified = presence.get("value")
    ip = value(doc, d["ip_presence"])
    ip_presence = {"OK": 1.0, "NOK": 0.0}.get(ip) if isinstance(ip, str) else None
    if ip is not None and ip_presence is None:
        state.rejected[("device", "invalid_value")] += 1
    rtt = _number(value(doc, d["rtt"]), state, "device")
    sent_env = current(doc, d["sent_bytes"]) or {}
    received_env = current(doc, d["received_bytes"]) or {}
    latitude, longitude = _coordinates(value(doc, d["location"]))
    ip, apn = _address(value(doc, d["address"]), state)
    sim_state = value(doc, d["sim_state"])
    if sim_state is not None and (not isinstance(sim_state, str) or not sim_state):
        state.rejected[("device", "invalid_value")] += 1
        sim_state = None
    return Modem(
        id=ident,
        unified_presence=unified if isinstance(unified, str) and unified else None,
        presence_source=_text(presence.get("source")) or None,
        presence_timestamp=parse_time(presence.get("date") or presence.get("at")),
        ip_presence=ip_presence,
        rtt_seconds=None if rtt is None else round(rtt * ds.rtt_unit_seconds, 9),
        sent_bytes=_number(sent_env.get("value"), state, "device"),
        received_bytes=_number(received_env.get("value"), state, "device"),
        traffic_timestamp=parse_time(sent_env.get("date") or received_env.get("date")),
        month_sent_bytes=_number(value(doc, d["month_sent_bytes"]), state, "device"),
        month_received_bytes=_number(value(doc, d["month_received_bytes"]), state, "device"),
        sessions_started=_number(value(doc, d["sessions_started"]), state, "device"),
        ip=ip,
        apn=apn,
        signal_dbm=_number(value(doc, d["signal_strength"]), state, "device"),
        iccid=_text(value(doc, d["iccid"])),
        imsi=_text(value(doc, d["imsi"])),
        msisdn=_text(value(doc, d["msisdn"])),
        admin_state=_text(value(doc, d["admin_state"])),
        latitude=latitude,
        longitude=longitude,
        sim_state=sim_state,
    )


def fold(
    devices: list[dict[str, Any]],
    sims: list[dict[str, Any]],
    alarms: list[dict[str, Any]],
    ds: Datastreams,
) -> FleetState:
    state = FleetState()
    seen: set[str] = set()
    for doc in devices:
        modem = fold_device(doc, ds, state)
        if modem is None:
            continue
        if modem.id in seen:
            state.rejected[("device", "duplicate")] += 1
            continue
        seen.add(modem.id)
        state.modems.append(modem)
    for doc in sims:
        admin = value(doc, ds.sims["admin_state"])
        if not isinstance(admin, str) or not admin:
            state.rejected[("sim", "no_state")] += 1
            continue
        state.sims[admin] += 1
    for alarm in alarms:
        rule, severity, status = alarm.get("rule"), alarm.get("severity"), alarm.get("status")
        if not all(isinstance(v, str) and v for v in (rule, severity, status)):
            state.rejected[("alarm", "missing_field")] += 1
            continue
        entity = alarm.get("entityIdentifier")
        is_sim = alarm.get("resourceType") == ds.sim_alarm_resource_type
        (state.sim_alarms if is_sim else state.alarms)[(rule, severity, status)] += 1
        if status == CLOSED or not isinstance(entity, str) or not entity:
            continue
        key = (entity, rule, severity)
        if not is_sim:
            state.open_alarms.add(key)
        opened = parse_time(alarm.get("openingDate"))
        if opened is None:
            state.rejected[("alarm", "invalid_value")] += 1
            continue
        since = state.sim_open_since if is_sim else state.open_since
        since[key] = min(since.get(key, opened), opened)
    return state
