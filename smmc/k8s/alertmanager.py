"""alertmanager.yml -> a prometheus-operator `AlertmanagerConfig` (monitoring.coreos.com/v1alpha1).

The conversion is faithful or it fails: routes (matchers in every Alertmanager form, grouping, timers,
`continue`, mute/active time intervals), inhibition rules and webhook receivers are carried over; a field
that the resource cannot express raises `ConversionError` naming it instead of being dropped.

Secrets are referenced, never copied: a webhook's bearer credentials (inline or `credentials_file`)
become a reference to the Secret that holds the receiver's token, and a webhook URL that points at one of
the stack's own services is rewritten to that service's in-cluster address.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from smmc.k8s import timezones


class ConversionError(ValueError):
    """alertmanager.yml uses something an AlertmanagerConfig cannot express."""


@dataclass(frozen=True)
class SecretRef:
    name: str
    key: str

    def selector(self) -> dict[str, str]:
        return {"name": self.name, "key": self.key}


# label="value", label!="value", label=~"re", label!~"re"; the value may also be unquoted.
_MATCHER_RE = re.compile(
    r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^"]*?))\s*$'
)
_OPS = {"=": "=", "!=": "!=", "=~": "=~", "!~": "!~"}


def parse_matcher(text: str) -> dict[str, str]:
    """One Alertmanager matcher string -> an AlertmanagerConfig matcher {name, value, matchType}."""
    m = _MATCHER_RE.match(text)
    if not m:
        raise ConversionError(f"cannot parse matcher {text!r}")
    name, op, quoted, bare = m.groups()
    if quoted is not None:
        value = re.sub(r"\\(.)", lambda e: {"n": "\n", "t": "\t"}.get(e.group(1), e.group(1)), quoted)
    else:
        value = bare
    return {"name": name, "value": value, "matchType": _OPS[op]}


def _split_matchers(text: str) -> list[str]:
    """`{a="b", c=~"d,e"}` or `a="b"` -> the individual matcher strings (commas inside quotes kept)."""
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    parts, current, quoted, escaped = [], [], False, False
    for ch in body:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == '"':
            current.append(ch)
            quoted = not quoted
        elif ch == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in (p.strip() for p in parts) if p]


def convert_matchers(
    where: str,
    matchers: list[str] | None = None,
    match: Mapping[str, str] | None = None,
    match_re: Mapping[str, str] | None = None,
) -> list[dict[str, str]]:
    """Every matcher form Alertmanager accepts (`matchers`, legacy `match` / `match_re`), in order."""
    out: list[dict[str, str]] = []
    for text in matchers or []:
        for part in _split_matchers(str(text)):
            try:
                out.append(parse_matcher(part))
            except ConversionError as exc:
                raise ConversionError(f"{where}: {exc}") from None
    for name, value in (match or {}).items():
        out.append({"name": str(name), "value": str(value), "matchType": "="})
    for name, value in (match_re or {}).items():
        out.append({"name": str(name), "value": str(value), "matchType": "=~"})
    return out


def _reject_unknown(where: str, data: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConversionError(f"{where}: cannot express {', '.join(unknown)} in an AlertmanagerConfig")


_ROUTE_KEYS = {
    "receiver",
    "group_by",
    "group_wait",
    "group_interval",
    "repeat_interval",
    "matchers",
    "match",
    "match_re",
    "continue",
    "routes",
    "mute_time_intervals",
    "active_time_intervals",
}


def convert_route(route: Mapping[str, Any], where: str = "route", root: bool = True) -> dict[str, Any]:
    _reject_unknown(where, route, _ROUTE_KEYS)
    if root and not route.get("receiver"):
        raise ConversionError(f"{where}: the root route needs a receiver")
    out: dict[str, Any] = {}
    if "receiver" in route:
        out["receiver"] = route["receiver"]
    if "group_by" in route:
        out["groupBy"] = list(route["group_by"])
    for src, dst in (
        ("group_wait", "groupWait"),
        ("group_interval", "groupInterval"),
        ("repeat_interval", "repeatInterval"),
    ):
        if src in route:
            out[dst] = str(route[src])
    matchers = convert_matchers(where, route.get("matchers"), route.get("match"), route.get("match_re"))
    if matchers:
        if root:
            raise ConversionError(f"{where}: the root route cannot have matchers")
        out["matchers"] = matchers
    if route.get("continue"):
        out["continue"] = True
    for src, dst in (
        ("mute_time_intervals", "muteTimeIntervals"),
        ("active_time_intervals", "activeTimeIntervals"),
    ):
        if route.get(src):
            out[dst] = list(route[src])
    children = route.get("routes") or []
    if children:
        out["routes"] = [
            convert_route(child, f"{where}.routes[{i}]", root=False) for i, child in enumerate(children)
        ]
    return out


_WEBHOOK_KEYS = {"url", "send_resolved", "http_config", "max_alerts"}
_HTTP_KEYS = {"authorization", "follow_redirects"}


def convert_webhook(
    hook: Mapping[str, Any],
    where: str,
    credentials: SecretRef,
    rewrite_url: Callable[[str], str],
) -> dict[str, Any]:
    _reject_unknown(where, hook, _WEBHOOK_KEYS)
    if "url" not in hook:
        raise ConversionError(f"{where}: a webhook needs a url")
    out: dict[str, Any] = {"url": rewrite_url(str(hook["url"]))}
    # Alertmanager's default for webhooks is send_resolved: true; the resource's default is false.
    out["sendResolved"] = bool(hook.get("send_resolved", True))
    if hook.get("max_alerts"):
        out["maxAlerts"] = int(hook["max_alerts"])
    http = hook.get("http_config") or {}
    _reject_unknown(f"{where}.http_config", http, _HTTP_KEYS)
    http_out: dict[str, Any] = {}
    auth = http.get("authorization")
    if auth is not None:
        _reject_unknown(
            f"{where}.http_config.authorization", auth, {"type", "credentials", "credentials_file"}
        )
        http_out["authorization"] = {
            "type": auth.get("type", "Bearer"),
            "credentials": credentials.selector(),
        }
    if "follow_redirects" in http:
        http_out["followRedirects"] = bool(http["follow_redirects"])
    if http_out:
        out["httpConfig"] = http_out
    return out


def convert_receiver(
    receiver: Mapping[str, Any], where: str, credentials: SecretRef, rewrite_url: Callable[[str], str]
) -> dict[str, Any]:
    _reject_unknown(where, receiver, {"name", "webhook_configs"})
    out: dict[str, Any] = {"name": receiver["name"]}
    hooks = receiver.get("webhook_configs") or []
    if hooks:
        out["webhookConfigs"] = [
            convert_webhook(h, f"{where}.webhook_configs[{i}]", credentials, rewrite_url)
            for i, h in enumerate(hooks)
        ]
    return out


def convert_inhibit_rule(rule: Mapping[str, Any], where: str) -> dict[str, Any]:
    _reject_unknown(
        where,
        rule,
        {
            "source_matchers",
            "target_matchers",
            "source_match",
            "source_match_re",
            "target_match",
            "target_match_re",
            "equal",
        },
    )
    out: dict[str, Any] = {
        "sourceMatch": convert_matchers(
            f"{where}.source",
            rule.get("source_matchers"),
            rule.get("source_match"),
            rule.get("source_match_re"),
        ),
        "targetMatch": convert_matchers(
            f"{where}.target",
            rule.get("target_matchers"),
            rule.get("target_match"),
            rule.get("target_match_re"),
        ),
    }
    if rule.get("equal"):
        out["equal"] = list(rule["equal"])
    return out


_DAY_RANGE_RE = re.compile(r"^\s*(-?\d+)\s*(?::\s*(-?\d+)\s*)?$")


def _day_range(text: str, where: str) -> dict[str, int]:
    """Alertmanager's "1:15", "-1" or "7" -> the resource's {start, end}."""
    m = _DAY_RANGE_RE.match(text)
    if not m:
        raise ConversionError(f"{where}: days_of_month {text!r} is not N or N:M")
    start = int(m.group(1))
    return {"start": start, "end": int(m.group(2)) if m.group(2) is not None else start}


def convert_time_interval(entry: Mapping[str, Any], where: str) -> dict[str, Any]:
    _reject_unknown(where, entry, {"name", "time_intervals"})
    intervals: list[dict[str, Any]] = []
    for i, ti in enumerate(entry.get("time_intervals") or []):
        w = f"{where}.time_intervals[{i}]"
        if "location" in ti:
            # The resource has no time zone: the same minutes, written in UTC (smmc/k8s/timezones.py).
            try:
                intervals += timezones.expand(ti, w)
            except timezones.TimeZoneError as exc:
                raise ConversionError(str(exc)) from None
            continue
        _reject_unknown(w, ti, {"times", "weekdays", "days_of_month", "months", "years"})
        out: dict[str, Any] = {}
        if ti.get("times"):
            out["times"] = [{"startTime": t["start_time"], "endTime": t["end_time"]} for t in ti["times"]]
        for src, dst in (("weekdays", "weekdays"), ("months", "months"), ("years", "years")):
            if ti.get(src):
                out[dst] = [str(v) for v in ti[src]]
        if ti.get("days_of_month"):
            out["daysOfMonth"] = [_day_range(str(v), w) for v in ti["days_of_month"]]
        intervals.append(out)
    return {"name": entry["name"], "timeIntervals": intervals}


@dataclass(frozen=True)
class ConvertedAlertmanager:
    spec: dict[str, Any]  # the AlertmanagerConfig spec
    global_config: dict[str, Any]  # Alertmanager CR spec.alertmanagerConfiguration.global
    templates: list[str]  # template globs of alertmanager.yml, relative to its directory


_TOP_KEYS = {
    "global",
    "route",
    "receivers",
    "inhibit_rules",
    "time_intervals",
    "mute_time_intervals",
    "templates",
}


def convert(
    config: Mapping[str, Any], credentials: SecretRef, rewrite_url: Callable[[str], str]
) -> ConvertedAlertmanager:
    """The whole alertmanager.yml. `global` may only carry resolve_timeout (the operator's global config)."""
    _reject_unknown("alertmanager.yml", config, _TOP_KEYS)
    if "route" not in config:
        raise ConversionError("alertmanager.yml: no route")
    glob = dict(config.get("global") or {})
    _reject_unknown("global", glob, {"resolve_timeout"})
    global_out = {"resolveTimeout": str(glob["resolve_timeout"])} if "resolve_timeout" in glob else {}
    spec: dict[str, Any] = {"route": convert_route(config["route"])}
    spec["receivers"] = [
        convert_receiver(r, f"receivers[{i}]", credentials, rewrite_url)
        for i, r in enumerate(config.get("receivers") or [])
    ]
    inhibit = [
        convert_inhibit_rule(r, f"inhibit_rules[{i}]")
        for i, r in enumerate(config.get("inhibit_rules") or [])
    ]
    if inhibit:
        spec["inhibitRules"] = inhibit
    intervals = [
        convert_time_interval(t, f"{key}[{i}]")
        for key in ("time_intervals", "mute_time_intervals")
        for i, t in enumerate(config.get(key) or [])
    ]
    if intervals:
        spec["muteTimeIntervals"] = intervals
    _check_references(spec)
    return ConvertedAlertmanager(
        spec=spec, global_config=global_out, templates=list(config.get("templates") or [])
    )


def _check_references(spec: Mapping[str, Any]) -> None:
    receivers = {r["name"] for r in spec["receivers"]}
    intervals = {t["name"] for t in spec.get("muteTimeIntervals", [])}

    def walk(route: Mapping[str, Any], where: str) -> None:
        if "receiver" in route and route["receiver"] not in receivers:
            raise ConversionError(f"{where}: unknown receiver {route['receiver']!r}")
        for name in [*route.get("muteTimeIntervals", []), *route.get("activeTimeIntervals", [])]:
            if name not in intervals:
                raise ConversionError(f"{where}: unknown time interval {name!r}")
        for i, child in enumerate(route.get("routes", [])):
            walk(child, f"{where}.routes[{i}]")

    walk(spec["route"], "route")


def url_rewriter(services: Mapping[str, str]) -> Callable[[str], str]:
    """A function mapping `http://HOST:PORT/path` to the in-cluster address when HOST:PORT is one of ours.

    `services` maps a compose address (e.g. "receiver:9820") to the in-cluster "host:port".
    """

    def rewrite(url: str) -> str:
        parts = urlsplit(url)
        target = services.get(parts.netloc)
        if target is None:
            return url
        return urlunsplit((parts.scheme, target, parts.path, parts.query, parts.fragment))

    return rewrite
