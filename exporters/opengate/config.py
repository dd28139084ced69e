"""The datastream ids and settings the OpenGate exporter reads, from `datastreams.yaml`.

The ids for IP presence, RTT and the SIM entities are not confirmed publicly, so they live in data:
a site passes its own file and every key it sets replaces the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporters.core import durations
from smmc.yamlfile import read_mapping

DEFAULT_FILE = Path(__file__).with_name("datastreams.yaml")

_DEVICE_KEYS = (
    "resource_type",
    "identifier",
    "organization",
    "admin_state",
    "location",
    "unified_presence",
    "ip_presence",
    "rtt",
    "sent_bytes",
    "received_bytes",
    "month_sent_bytes",
    "month_received_bytes",
    "sessions_started",
    "address",
    "signal_strength",
    "iccid",
    "imsi",
    "msisdn",
    "sim_state",
)
_SIM_KEYS = ("resource_type", "identifier", "organization", "admin_state")


class ConfigError(Exception):
    pass


def parse_duration(text: str | float | int) -> float:
    """`60s`, `5m`, `7d`, `250ms` or a bare number of seconds -> seconds (ConfigError otherwise)."""
    try:
        return durations.parse_duration(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


@dataclass(frozen=True)
class Datastreams:
    devices: dict[str, str]
    sims: dict[str, str]
    rtt_unit_seconds: float
    billable_states: frozenset[str]
    closed_alarms_within: float
    sim_alarm_resource_type: str = "entity.subscription"


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _section(data: dict[str, Any], name: str, keys: tuple[str, ...], source: str) -> dict[str, str]:
    section = data.get(name)
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: section {name!r} missing or not a mapping")
    missing = [k for k in keys if not isinstance(section.get(k), str) or not section[k].strip()]
    if missing:
        raise ConfigError(f"{source}: {name}: missing or empty ids: {', '.join(missing)}")
    unknown = sorted(set(section) - set(keys))
    if unknown:
        raise ConfigError(f"{source}: {name}: unknown keys: {', '.join(unknown)}")
    return {k: section[k].strip() for k in keys}


def load_datastreams(site_file: str | Path | None = None) -> Datastreams:
    data = read_mapping(DEFAULT_FILE, ConfigError, empty_ok=True)
    source = str(DEFAULT_FILE)
    if site_file is not None:
        data = _merge(data, read_mapping(site_file, ConfigError, empty_ok=True))
        source = f"{DEFAULT_FILE} + {site_file}"
    unit = str(data.get("units", {}).get("rtt", "ms"))
    if unit not in ("ms", "s"):
        raise ConfigError(f"{source}: units.rtt must be ms or s, not {unit!r}")
    billable = data.get("billable_states")
    if not isinstance(billable, list) or not all(isinstance(s, str) for s in billable):
        raise ConfigError(f"{source}: billable_states must be a list of state names")
    return Datastreams(
        devices=_section(data, "devices", _DEVICE_KEYS, source),
        sims=_section(data, "sims", _SIM_KEYS, source),
        rtt_unit_seconds=durations.UNIT_SECONDS[unit],
        billable_states=frozenset(billable),
        closed_alarms_within=parse_duration(data.get("alarms", {}).get("closed_within", "7d")),
        sim_alarm_resource_type=str(data.get("alarms", {}).get("sim_resource_type", "entity.subscription")),
    )
