"""A harness that runs the receiver against the fake JIRA and fake SMMePlus on 127.0.0.1 (free ports).

Used by the receiver's tests, the benchmark and the end-to-end tests:

    with ReceiverStack(tmp_path, worker=False) as stack:
        stack.post("smmc-actions", notification("smmc-actions", [alert("MeterClockDrift", ...)]))
        stack.drain()                       # dispatch everything due, deterministically
        stack.jira_issues()                 # what the fake JIRA holds
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import httpx
import yaml

from receiver.config import Config, load_config
from receiver.service import Receiver, build_receiver
from receiver.store import Store, open_store
from simulator import fake_jira, fake_smmeplus
from simulator.serving import ServerThread

REPO = Path(__file__).resolve().parents[1]
ACTIONS_YML = REPO / "alertmanager" / "actions.yml"
TOKEN = "test-receiver-token"
OPERATOR = "ana.rojas"
OPERATOR_TOKEN = "test-operator-token-ana"
JIRA_TOKEN = "test-jira-token"
SMMEPLUS_TOKEN = "test-smmeplus-token"


def alert(
    alertname: str,
    status: str = "firing",
    starts_at: str = "2026-05-04T10:00:00Z",
    ends_at: str = "0001-01-01T00:00:00Z",
    annotations: dict[str, str] | None = None,
    **labels: str,
) -> dict[str, Any]:
    all_labels = {"alertname": alertname, **labels}
    fp = hashlib.sha256(repr(sorted(all_labels.items())).encode()).hexdigest()[:16]
    return {
        "status": status,
        "labels": all_labels,
        "annotations": annotations
        if annotations is not None
        else {"summary": f"{alertname} summary", "description": f"{alertname} description"},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fp,
    }


def notification(
    receiver: str,
    alerts: list[dict[str, Any]],
    external_url: str = "http://alertmanager-0:9093",
    group_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    common = dict(alerts[0]["labels"]) if alerts else {}
    for a in alerts[1:]:
        common = {k: v for k, v in common.items() if a["labels"].get(k) == v}
    return {
        "receiver": receiver,
        "status": status,
        "alerts": alerts,
        "groupLabels": group_labels or {"alertname": common.get("alertname", "")},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": external_url,
        "version": "4",
        "groupKey": '{}:{alertname="' + common.get("alertname", "") + '"}',
        "truncatedAlerts": 0,
    }


def config_data(jira_url: str, smmeplus_url: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    data = yaml.safe_load(ACTIONS_YML.read_text(encoding="utf-8"))
    data["targets"]["jira"]["base_url"] = jira_url
    data["targets"]["jira"]["base_url_env"] = None
    data["targets"]["jira"]["token_env"] = "SMMC_TEST_JIRA_TOKEN"
    data["targets"]["smmeplus"]["base_url"] = smmeplus_url
    data["targets"]["smmeplus"]["base_url_env"] = None
    data["targets"]["smmeplus"]["token_env"] = "SMMC_TEST_SMMEPLUS_TOKEN"
    data["worker"].update(
        {"backoff_initial_seconds": 0.05, "backoff_max_seconds": 0.2, "poll_interval_seconds": 0.05}
    )
    for key, value in (overrides or {}).items():
        _merge(data, key.split("."), value)
    return data


def _merge(data: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        data = data.setdefault(part, {})
    data[path[-1]] = value


TEST_ENV = {"SMMC_TEST_JIRA_TOKEN": JIRA_TOKEN, "SMMC_TEST_SMMEPLUS_TOKEN": SMMEPLUS_TOKEN}


class ReceiverStack:
    """Fake JIRA + fake SMMePlus + the receiver (real HTTP, SQLite file or a given database URL)."""

    def __init__(
        self,
        tmp: Path,
        worker: bool = False,
        overrides: dict[str, Any] | None = None,
        db_url: str | None = None,
        env: dict[str, str] | None = None,
        max_alerts: int | None = None,
    ) -> None:
        self.tmp = Path(tmp)
        self.run_worker = worker
        self.overrides = overrides
        self.db_url = db_url or str(self.tmp / "receiver.db")
        self.env = {**TEST_ENV, **(env or {})}
        self.max_alerts = max_alerts
        self.jira_server = ServerThread(fake_jira.create_app(token=JIRA_TOKEN))
        self.smmeplus_server = ServerThread(fake_smmeplus.create_app(token=SMMEPLUS_TOKEN))

    def __enter__(self) -> ReceiverStack:
        self.jira_server.start()
        self.smmeplus_server.start()
        self.jira = httpx.Client(base_url=self.jira_server.url, timeout=10)
        self.smmeplus = httpx.Client(base_url=self.smmeplus_server.url, timeout=10)
        self.config_dict = config_data(self.jira_server.url, self.smmeplus_server.url, self.overrides)
        self.config: Config = load_config(data=copy.deepcopy(self.config_dict), env=self.env)
        self.store: Store = open_store(self.db_url)
        limits = {} if self.max_alerts is None else {"max_alerts": self.max_alerts}
        self.receiver: Receiver = build_receiver(
            self.config,
            self.store,
            TOKEN,
            run_worker=self.run_worker,
            operators={OPERATOR: OPERATOR_TOKEN},
            **limits,
        )
        self.server = ServerThread(self.receiver.app).start()
        self.client = httpx.Client(
            base_url=self.server.url, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        # a person's client: decisions (approve, reject, retry) need an operator's own token
        self.operator = httpx.Client(
            base_url=self.server.url, timeout=30, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.operator.close()
        self.client.close()
        self.server.stop()
        self.store.close()
        self.jira.close()
        self.smmeplus.close()
        self.smmeplus_server.stop()
        self.jira_server.stop()

    def write_config(self, path: Path) -> Path:
        path.write_text(yaml.safe_dump(self.config_dict), encoding="utf-8")
        return path

    # -- helpers -------------------------------------------------------------------------------------------
    def post(
        self, receiver: str, payload: dict[str, Any] | bytes, token: str | None = TOKEN
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {"Authorization": ""}
        if isinstance(payload, bytes):
            return self.client.post(
                f"/webhook/{receiver}",
                content=payload,
                headers={**headers, "Content-Type": "application/json"},
            )
        return self.client.post(f"/webhook/{receiver}", json=payload, headers=headers)

    def drain(self) -> int:
        return self.receiver.worker.drain()

    def actions(self, **filters: str) -> list[dict[str, Any]]:
        r = self.client.get("/api/actions", params={**filters, "limit": 10000})
        r.raise_for_status()
        return r.json()

    def jira_issues(self) -> list[dict[str, Any]]:
        return self.jira.get("/_fake/issues").json()

    def smmeplus_commands(self) -> list[dict[str, Any]]:
        return self.smmeplus.get("/_fake/commands").json()

    def jira_fault(self, **fault: Any) -> None:
        self.jira.post("/_fake/faults", json=fault).raise_for_status()

    def smmeplus_fault(self, **fault: Any) -> None:
        self.smmeplus.post("/_fake/faults", json=fault).raise_for_status()


def settle(stack: ReceiverStack, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Dispatch until no action is pending, retrying or dispatching (retries wait their backoff)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        stack.drain()
        actions = stack.actions()
        if not any(a["status"] in ("pending", "retry", "dispatching") for a in actions):
            return actions
        if time.monotonic() > deadline:
            raise TimeoutError(f"outbox did not settle: {[(a['id'], a['status']) for a in actions]}")
        time.sleep(0.05)
