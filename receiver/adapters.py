"""Action adapters: one narrow interface (`dispatch(action) -> Outcome`), one class per external system.

Every adapter is idempotent towards its system, because a worker killed mid-dispatch re-runs the action:
- JIRA: each ticket carries the labels `smmc-<correlation key>` (the business key: the same problem on
  the same object) and `smmc-ep-<episode>` (this firing episode). The adapter searches before it creates,
  so a re-run finds the ticket the killed run created instead of opening a second one.
- SMMePlus: the command request carries `Idempotency-Key: <action key>`; the head-end answers a repeat
  with the command it already accepted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from receiver.config import Config, TargetConfig
from receiver.keys import correlation_label, episode_label, fire_key
from receiver.store import ActionRow
from smmc.retry_after import retry_after_seconds

JIRA_PRIORITY = {"critical": "Highest", "warning": "High", "info": "Low"}
DONE_CATEGORY = "done"


@dataclass
class Outcome:
    result: str  # success | retry | failed
    external_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    retry_after: float | None = None


class AdapterError(Exception):
    def __init__(
        self, message: str, retryable: bool, retry_after: float | None = None, status: int | None = None
    ):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


def check(response: httpx.Response, what: str) -> httpx.Response:
    """Map HTTP status to retryable (429, 5xx) or final (other 4xx) errors."""
    if response.status_code < 400:
        return response
    text = response.text[:300]
    retryable = response.status_code == 429 or response.status_code >= 500
    raise AdapterError(
        f"{what}: HTTP {response.status_code}: {text}",
        retryable,
        retry_after_seconds(response.headers.get("Retry-After")),
        response.status_code,
    )


class HttpTarget:
    def __init__(self, target: TargetConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.target = target
        headers = {"Accept": "application/json", "User-Agent": "smmc-receiver"}
        auth = None
        if target.user and target.token:
            auth = httpx.BasicAuth(target.user, target.token)
        elif target.token:
            headers["Authorization"] = f"Bearer {target.token}"
        self.client = httpx.Client(
            base_url=target.base_url,
            headers=headers,
            auth=auth,
            timeout=target.timeout_seconds,
            transport=transport,
        )

    def request(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise AdapterError(f"{what}: {type(exc).__name__}: {exc}", retryable=True) from exc
        return check(response, what)

    def close(self) -> None:
        self.client.close()


class JiraClient(HttpTarget):
    """JIRA REST v2 for issues, comments and transitions; search by /rest/api/3/search/jql (Cloud) or
    /rest/api/2/search (Data Center), chosen by the target's `search_api`. With `jql` (the default), a
    404 from /search/jql (a Data Center that has no such endpoint) switches this client to the v2 search."""

    FIELDS = "status,labels,updated,resolutiondate,summary"
    use_v2_search: bool | None = None

    def search(self, jql: str, limit: int = 50) -> list[dict[str, Any]]:
        if self.use_v2_search is None:
            self.use_v2_search = self.target.settings.get("search_api", "jql") == "v2"
        if not self.use_v2_search:
            try:
                return self._search_jql(jql, limit)
            except AdapterError as exc:
                if exc.status != 404:
                    raise
                self.use_v2_search = True
        return self._search_v2(jql, limit)

    def _search_v2(self, jql: str, limit: int) -> list[dict[str, Any]]:
        issues: list[dict[str, Any]] = []
        start = 0
        while len(issues) < limit:
            page = self.request(
                "GET",
                "/rest/api/2/search",
                "JIRA search",
                params={
                    "jql": jql,
                    "startAt": start,
                    "maxResults": min(50, limit),
                    "fields": self.FIELDS,
                },
            ).json()
            issues.extend(page.get("issues", []))
            start += len(page.get("issues", []))
            if not page.get("issues") or start >= int(page.get("total", 0)):
                break
        return issues[:limit]

    def _search_jql(self, jql: str, limit: int) -> list[dict[str, Any]]:
        issues: list[dict[str, Any]] = []
        token: str | None = None
        while len(issues) < limit:
            params: dict[str, Any] = {"jql": jql, "maxResults": min(50, limit), "fields": self.FIELDS}
            if token:
                params["nextPageToken"] = token
            page = self.request("GET", "/rest/api/3/search/jql", "JIRA search", params=params).json()
            issues.extend(page.get("issues", []))
            token = page.get("nextPageToken")
            if page.get("isLast", True) or not token:
                break
        return issues[:limit]

    def create(self, fields: dict[str, Any]) -> str:
        return str(
            self.request("POST", "/rest/api/2/issue", "JIRA create issue", json={"fields": fields}).json()[
                "key"
            ]
        )

    def comment(self, key: str, body: str) -> None:
        self.request("POST", f"/rest/api/2/issue/{key}/comment", "JIRA comment", json={"body": body})

    def add_label(self, key: str, label: str) -> None:
        self.request(
            "PUT", f"/rest/api/2/issue/{key}", "JIRA add label", json={"update": {"labels": [{"add": label}]}}
        )

    def transition(self, key: str, name: str) -> str | None:
        """Apply the transition called `name` (or leading to a status called `name`); None if unavailable."""
        available = self.request("GET", f"/rest/api/2/issue/{key}/transitions", "JIRA transitions").json()
        for t in available.get("transitions", []):
            if name.lower() in (str(t.get("name", "")).lower(), str(t.get("to", {}).get("name", "")).lower()):
                self.request(
                    "POST",
                    f"/rest/api/2/issue/{key}/transitions",
                    "JIRA transition",
                    json={"transition": {"id": t["id"]}},
                )
                return str(t.get("name"))
        return None


def _status_category(issue: dict[str, Any]) -> str:
    return str(issue.get("fields", {}).get("status", {}).get("statusCategory", {}).get("key", ""))


def _closed_at(issue: dict[str, Any]) -> float | None:
    f = issue.get("fields", {})
    value = f.get("resolutiondate") or f.get("updated")
    if not value:
        return None
    from datetime import datetime

    text = str(value).replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":  # JIRA's +0000 offset form
        text = text[:-2] + ":" + text[-2:]
    return datetime.fromisoformat(text).timestamp()


class TicketAdapter:
    """jira_ticket, field_order and outage_notice: a JIRA issue per problem, found again by its labels."""

    def __init__(self, config: Config, jira: JiraClient) -> None:
        self.config = config
        self.jira = jira

    def _settings(self, action: ActionRow) -> dict[str, Any]:
        return {**self.config.action_types[action.action].settings, **action.params}

    def dispatch(self, action: ActionRow, context: dict[str, Any]) -> Outcome:
        if action.phase == "resolve":
            return self._resolve(action)
        ep = episode_label(action.idem_key)
        done = self.jira.search(f'labels = "{ep}" ORDER BY created DESC', limit=1)
        if done:  # this episode was handled already (the run that did it was killed before recording it)
            return Outcome("success", done[0]["key"], {"outcome": "already_done"})
        corr = correlation_label(action.correlation_key)
        now = time.time()
        for issue in self.jira.search(f'labels = "{corr}" ORDER BY created DESC', limit=5):
            key = issue["key"]
            if _status_category(issue) != DONE_CATEGORY:
                self.jira.comment(key, self._text(action, "Alert fired again (new episode).", context))
                self.jira.add_label(key, ep)
                return Outcome("success", key, {"outcome": "commented_open_ticket"})
            closed = _closed_at(issue)
            max_age = float(self._settings(action).get("reopen_max_age_seconds", 0))
            if closed is not None and now - closed <= max_age:
                reopen = str(self._settings(action).get("reopen_transition", "Reopen"))
                applied = self.jira.transition(key, reopen)
                if applied is not None:
                    self.jira.comment(key, self._text(action, "Alert fired again: ticket reopened.", context))
                    self.jira.add_label(key, ep)
                    return Outcome("success", key, {"outcome": "reopened", "transition": applied})
            break  # the newest related ticket is closed and too old (or cannot reopen): open a new one
        key = self.jira.create(self._fields(action, context, [corr, ep]))
        return Outcome("success", key, {"outcome": "created"})

    def _resolve(self, action: ActionRow) -> Outcome:
        fire_ep = episode_label(fire_key(action))
        issues = self.jira.search(f'labels = "{fire_ep}" ORDER BY created DESC', limit=1)
        if not issues:
            return Outcome("success", None, {"outcome": "no_ticket"})
        key = issues[0]["key"]
        if _status_category(issues[0]) == DONE_CATEGORY:
            return Outcome("success", key, {"outcome": "already_closed"})
        self.jira.comment(key, f"Alert resolved (episode started {action.starts_at}).")
        name = self._settings(action).get("resolve_transition")
        applied = self.jira.transition(key, str(name)) if name else None
        return Outcome("success", key, {"outcome": "resolved", "transition": applied})

    def preview(self, action: ActionRow) -> dict[str, Any]:
        return {
            "JIRA": action.phase,
            "labels": [correlation_label(action.correlation_key), episode_label(action.idem_key)],
            "params": action.params,
        }

    def _summary(self, action: ActionRow, context: dict[str, Any]) -> str:
        if action.phase == "storm":
            group = ", ".join(f"{k}={v}" for k, v in action.params.get("storm_group", {}).items())
            return f"Storm: {context.get('storm_count', '?')} x {action.alertname} ({group})"
        base = action.annotations.get("summary") or action.alertname
        objects = ", ".join(
            f"{k}={action.labels[k]}"
            for k in ("concentrator", "meter", "modem", "job", "comuna")
            if action.labels.get(k)
        )
        prefix = f"[{action.params['procedure']}] " if action.params.get("procedure") else ""
        return (prefix + base + (f" ({objects})" if objects else ""))[:250]

    def _text(self, action: ActionRow, head: str, context: dict[str, Any]) -> str:
        lines = [head, "", action.annotations.get("description", "")]
        if action.annotations.get("action"):
            lines.append(f"Action: {action.annotations['action']}")
        if action.annotations.get("runbook_url"):
            lines.append(f"Runbook: {action.annotations['runbook_url']}")
        lines.append(f"Episode started: {action.starts_at}; smmc action #{action.id} (rule {action.rule}).")
        lines.append("Labels: " + ", ".join(f"{k}={v}" for k, v in sorted(action.labels.items())))
        for child in context.get("storm_children", [])[:200]:
            lines.append("- " + ", ".join(f"{k}={v}" for k, v in sorted(child.items())))
        return "\n".join(line for line in lines if line is not None)

    def _fields(self, action: ActionRow, context: dict[str, Any], labels: list[str]) -> dict[str, Any]:
        s = self._settings(action)
        extra = ["smmc", action.action.replace("_", "-")]
        if action.params.get("queue"):
            extra.append(f"smmc-queue-{action.params['queue']}")
        if action.params.get("procedure"):
            extra.append(str(action.params["procedure"]))
        fields: dict[str, Any] = {
            "project": {"key": str(s.get("project"))},
            "issuetype": {"name": str(s.get("issue_type", "Task"))},
            "summary": self._summary(action, context),
            "description": self._text(action, "Opened by the smmc alert receiver.", context),
            "labels": [*labels, *extra],
        }
        priority = s.get("priority")
        if priority:
            fields["priority"] = {"name": JIRA_PRIORITY.get(str(priority), str(priority))}
        return fields


class SmmeplusAdapter:
    """Remote command requests to the SMMePlus integration API (assumed; see docs/receiver.md)."""

    def __init__(self, client: HttpTarget) -> None:
        self.http = client

    @staticmethod
    def _target(action: ActionRow) -> dict[str, str]:
        return {k: action.labels[k] for k in ("concentrator", "meter", "modem") if action.labels.get(k)}

    def preview(self, action: ActionRow) -> dict[str, Any]:
        return {
            "POST": "/api/v1/commands",
            "command": action.params.get("command"),
            "target": self._target(action),
        }

    def dispatch(self, action: ActionRow, context: dict[str, Any]) -> Outcome:
        params = dict(action.params)
        command = str(params.pop("command", ""))
        if not command:
            return Outcome("failed", None, {"error": "no command in the action's params"})
        target = self._target(action)
        body = {
            "command": command,
            "target": target,
            "parameters": params,
            "reference": action.idem_key,
            "reason": f"{action.alertname}: {action.annotations.get('summary', '')}".strip(": "),
            "requested_by": "smmc-receiver",
            "approved_by": action.approved_by,
        }
        response = self.http.request(
            "POST",
            "/api/v1/commands",
            "SMMePlus command",
            json=body,
            headers={"Idempotency-Key": action.idem_key},
        )
        data = response.json()
        return Outcome(
            "success",
            str(data.get("id")),
            {
                "outcome": "submitted",
                "command": command,
                "http_status": response.status_code,
                "command_status": data.get("status"),
            },
        )


class NotifyAdapter:
    """Forward a notification to a chat webhook (Slack/Mattermost-compatible `{"text": ...}`)."""

    def __init__(self, url: str | None, timeout: float = 10.0, transport: httpx.BaseTransport | None = None):
        self.url = url
        self.client = httpx.Client(timeout=timeout, transport=transport)

    def preview(self, action: ActionRow) -> dict[str, Any]:
        return {"POST": "chat webhook", "alerts": action.params.get("alerts")}

    def dispatch(self, action: ActionRow, context: dict[str, Any]) -> Outcome:
        if not self.url:
            return Outcome("success", None, {"outcome": "no_forward_url"})
        text = (
            f"[{action.params.get('status', 'firing')}] {action.alertname or 'alerts'}: "
            f"{action.annotations.get('summary', '')} ({action.params.get('alerts', 0)} alerts)"
        )
        try:
            response = self.client.post(
                self.url,
                json={"text": text, "labels": action.labels},
                headers={"Idempotency-Key": action.idem_key},
            )
        except httpx.HTTPError as exc:
            raise AdapterError(f"chat webhook: {exc}", retryable=True) from exc
        check(response, "chat webhook")
        return Outcome("success", None, {"outcome": "forwarded", "http_status": response.status_code})
