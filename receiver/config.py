"""The action map (alertmanager/actions.yml): receivers, targets, action types, ticket queues, rules, default.

Loaded and validated once; any error names the file and the offending entry.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smmc.yamlfile import read_mapping

ACTION_TYPES = ("smmeplus_command", "jira_ticket", "field_order", "outage_notice", "notify", "record")
TICKET_TYPES = ("jira_ticket", "field_order", "outage_notice")
RECEIVER_KINDS = ("actions", "notify", "watchdog")
DEFAULT_CORRELATION_LABELS = (
    "alertname",
    "concentrator",
    "meter",
    "modem",
    "job",
    "comuna",
    "flag",
    "category",
)

_MATCHER_RE = re.compile(
    r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^\s"=~!][^\s"]*|))\s*$'
)
_TEMPLATE_RE = re.compile(r"\{\{\s*(labels|annotations)\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")


class ConfigError(ValueError):
    """The action map is invalid."""


@dataclass(frozen=True)
class Matcher:
    """One Alertmanager-style matcher on an alert label; regexes are fully anchored."""

    label: str
    op: str
    value: str
    regex: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, text: str) -> Matcher:
        m = _MATCHER_RE.match(text)
        if not m:
            raise ConfigError(f'bad matcher {text!r}: expected label="v", label!="v", =~ or !~')
        label, op, quoted, bare = m.groups()
        value = re.sub(r'\\(["\\])', r"\1", quoted) if quoted is not None else bare
        regex = None
        if op in ("=~", "!~"):
            try:
                regex = re.compile(f"^(?:{value})$")
            except re.error as exc:
                raise ConfigError(f"bad regex in matcher {text!r}: {exc}") from exc
        return cls(label, op, value, regex)

    def matches(self, labels: dict[str, str]) -> bool:
        got = labels.get(self.label, "")
        if self.op == "=":
            return got == self.value
        if self.op == "!=":
            return got != self.value
        assert self.regex is not None
        hit = self.regex.match(got) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f'{self.label}{self.op}"{self.value}"'


@dataclass(frozen=True)
class Rule:
    name: str
    matchers: tuple[Matcher, ...]
    action: str
    params: dict[str, Any]
    approval: bool = False
    queue: str | None = None  # the ticket queue; its project/issue type are merged into `params`

    def matches(self, labels: dict[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)


@dataclass(frozen=True)
class StormConfig:
    threshold: int
    window_seconds: float
    group_by: tuple[str, ...]


@dataclass(frozen=True)
class ActionTypeConfig:
    name: str
    dry_run: bool = False
    cooldown_seconds: float = 0.0
    max_per_hour: int | None = None
    storm: StormConfig | None = None
    approval_required_for: frozenset[str] = frozenset()
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetConfig:
    name: str
    base_url: str
    token: str | None
    user: str | None
    timeout_seconds: float
    settings: dict[str, Any]


@dataclass(frozen=True)
class WorkerConfig:
    max_attempts: int = 8
    backoff_initial_seconds: float = 2.0
    backoff_max_seconds: float = 600.0
    lease_seconds: float = 60.0
    poll_interval_seconds: float = 0.5


@dataclass(frozen=True)
class ReceiverConfig:
    name: str
    kind: str
    forward_url: str | None = None


@dataclass(frozen=True)
class Queue:
    """A ticket queue of the seed's process: the JIRA project (and issue type) one kind of ticket goes to."""

    name: str
    settings: dict[str, Any]  # project, issue_type, and for field orders the procedure


QUEUE_KEYS = {"project", "issue_type", "procedure"}


@dataclass(frozen=True)
class Config:
    receivers: dict[str, ReceiverConfig]
    targets: dict[str, TargetConfig]
    action_types: dict[str, ActionTypeConfig]
    rules: tuple[Rule, ...]
    default: Rule
    worker: WorkerConfig
    correlation_labels: tuple[str, ...]
    source: str = "<dict>"
    queues: dict[str, Queue] = field(default_factory=dict)

    def route(self, labels: dict[str, str]) -> Rule:
        for rule in self.rules:
            if rule.matches(labels):
                return rule
        return self.default


def render(value: Any, labels: dict[str, str], annotations: dict[str, str]) -> Any:
    """Fill {{ labels.X }} / {{ annotations.X }} in strings, recursively through lists and dicts."""
    if isinstance(value, str):
        scope = {"labels": labels, "annotations": annotations}
        return _TEMPLATE_RE.sub(lambda m: scope[m.group(1)].get(m.group(2), ""), value)
    if isinstance(value, list):
        return [render(v, labels, annotations) for v in value]
    if isinstance(value, dict):
        return {k: render(v, labels, annotations) for k, v in value.items()}
    return value


def secret_from_env(var: str | None, env: os._Environ[str] | dict[str, str] | None = None) -> str | None:
    """Value of $VAR, or the stripped content of the file named by $VAR_FILE."""
    if not var:
        return None
    env = os.environ if env is None else env
    if env.get(var):
        return env[var]
    path = env.get(f"{var}_FILE")
    if path:
        return Path(path).read_text(encoding="utf-8").strip()
    return None


def _rule(
    entry: Any,
    where: str,
    action_types: dict[str, ActionTypeConfig],
    queues: dict[str, Queue] | None = None,
) -> Rule:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping")
    unknown = set(entry) - {"name", "matchers", "action", "params", "approval", "queue"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    action = entry.get("action")
    if action not in action_types:
        raise ConfigError(f"{where}: action {action!r} is not one of {sorted(action_types)}")
    matchers = entry.get("matchers", [])
    if not isinstance(matchers, list):
        raise ConfigError(f"{where}: matchers must be a list")
    try:
        parsed = tuple(Matcher.parse(str(m)) for m in matchers)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    params = entry.get("params") or {}
    if not isinstance(params, dict):
        raise ConfigError(f"{where}: params must be a mapping")
    queue = entry.get("queue")
    if queue is not None:
        queue = str(queue)
        known = queues or {}
        if action not in TICKET_TYPES:
            raise ConfigError(f"{where}: a queue is for ticket actions {TICKET_TYPES}, not {action!r}")
        if queue not in known:
            raise ConfigError(f"{where}: queue {queue!r} is not one of {sorted(known)}")
        params = {**known[queue].settings, "queue": queue, **params}
    return Rule(
        str(entry.get("name", where)), parsed, action, params, bool(entry.get("approval", False)), queue
    )


def _queues(data: Any) -> dict[str, Queue]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("queues: expected a mapping of queue name -> {project, issue_type}")
    queues: dict[str, Queue] = {}
    for name, spec in data.items():
        if not isinstance(spec, dict) or not spec.get("project"):
            raise ConfigError(f"queues.{name}: a queue needs a project")
        unknown = set(spec) - QUEUE_KEYS
        if unknown:
            raise ConfigError(f"queues.{name}: unknown keys {sorted(unknown)} (known: {sorted(QUEUE_KEYS)})")
        queues[str(name)] = Queue(str(name), {k: str(v) for k, v in spec.items()})
    return queues


def load_config(
    path: str | Path | None = None, data: dict[str, Any] | None = None, env: dict[str, str] | None = None
) -> Config:
    """Load and validate the action map from a file or an already-parsed dict."""
    source = str(path) if path is not None else "<dict>"
    if data is None:
        if path is None:
            raise ConfigError("load_config needs a path or data")
        data = read_mapping(path, ConfigError)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping")
    try:
        return _build(data, source, env)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def _build(data: dict[str, Any], source: str, env: dict[str, str] | None) -> Config:
    env_map = dict(os.environ) if env is None else env
    receivers: dict[str, ReceiverConfig] = {}
    for name, spec in (data.get("receivers") or {}).items():
        spec = spec or {}
        kind = spec.get("kind")
        if kind not in RECEIVER_KINDS:
            raise ConfigError(f"receivers.{name}: kind must be one of {RECEIVER_KINDS}")
        url = secret_from_env(spec.get("forward_url_env"), env_map) if kind == "notify" else None
        receivers[str(name)] = ReceiverConfig(str(name), kind, url or spec.get("forward_url"))
    if not receivers:
        raise ConfigError("no receivers defined")

    targets: dict[str, TargetConfig] = {}
    for name, spec in (data.get("targets") or {}).items():
        spec = dict(spec or {})
        base = env_map.get(spec.get("base_url_env") or "", "") or spec.get("base_url")
        if not base:
            raise ConfigError(f"targets.{name}: no base_url (set {spec.get('base_url_env')} or base_url)")
        if not str(base).startswith(("http://", "https://")):
            # refused at start: without a scheme every dispatch would fail later, in the log
            where = f"${spec['base_url_env']}" if env_map.get(spec.get("base_url_env") or "") else "base_url"
            raise ConfigError(f"targets.{name}: {base!r} ({where}) is not an http:// or https:// URL")
        targets[str(name)] = TargetConfig(
            name=str(name),
            base_url=str(base).rstrip("/"),
            token=secret_from_env(spec.get("token_env"), env_map),
            user=secret_from_env(spec.get("user_env"), env_map),
            timeout_seconds=float(spec.get("timeout_seconds", 10)),
            settings=spec,
        )

    action_types: dict[str, ActionTypeConfig] = {}
    for name, spec in (data.get("action_types") or {}).items():
        if name not in ACTION_TYPES:
            raise ConfigError(f"action_types.{name}: unknown action type (known: {ACTION_TYPES})")
        spec = dict(spec or {})
        storm = None
        if spec.get("storm"):
            s = spec["storm"]
            storm = StormConfig(
                int(s["threshold"]), float(s["window_seconds"]), tuple(s.get("group_by", ["alertname"]))
            )
            if storm.threshold < 1 or storm.window_seconds <= 0:
                raise ConfigError(f"action_types.{name}.storm: threshold >= 1 and window_seconds > 0")
        mph = spec.get("max_per_hour")
        action_types[name] = ActionTypeConfig(
            name=name,
            dry_run=bool(spec.get("dry_run", False)),
            cooldown_seconds=float(spec.get("cooldown_seconds", 0)),
            max_per_hour=None if mph is None else int(mph),
            storm=storm,
            approval_required_for=frozenset(spec.get("approval_required_for", [])),
            settings=spec,
        )
    for name in ACTION_TYPES:
        action_types.setdefault(name, ActionTypeConfig(name=name))
    for name in ("jira_ticket", "field_order", "outage_notice"):
        if "project" not in action_types[name].settings and name in (data.get("action_types") or {}):
            raise ConfigError(f"action_types.{name}: a ticket action type needs a project")

    queues = _queues(data.get("queues"))
    rules = tuple(
        _rule(r, f"rules[{i}]", action_types, queues) for i, r in enumerate(data.get("rules") or [])
    )
    names = [r.name for r in rules]
    if len(names) != len(set(names)):
        raise ConfigError("rule names must be unique")
    default_spec = dict(data.get("default") or {"action": "record"})
    default_spec.setdefault("name", "default")
    default = _rule(default_spec, "default", action_types)
    if default.matchers:
        raise ConfigError("default: must not have matchers")

    w = data.get("worker") or {}
    worker = WorkerConfig(
        max_attempts=int(w.get("max_attempts", 8)),
        backoff_initial_seconds=float(w.get("backoff_initial_seconds", 2)),
        backoff_max_seconds=float(w.get("backoff_max_seconds", 600)),
        lease_seconds=float(w.get("lease_seconds", 60)),
        poll_interval_seconds=float(w.get("poll_interval_seconds", 0.5)),
    )
    used = {r.action for r in (*rules, default)} | {"notify"}
    needs_jira = used & set(TICKET_TYPES)
    if needs_jira and "jira" not in targets:
        raise ConfigError(f"action types {sorted(needs_jira)} need a `jira` target")
    if "smmeplus_command" in used and "smmeplus" not in targets:
        raise ConfigError("action type smmeplus_command needs a `smmeplus` target")
    return Config(
        receivers=receivers,
        targets=targets,
        action_types=action_types,
        rules=rules,
        default=default,
        worker=worker,
        correlation_labels=tuple(data.get("correlation_labels") or DEFAULT_CORRELATION_LABELS),
        source=source,
        queues=queues,
    )
