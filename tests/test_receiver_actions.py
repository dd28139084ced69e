"""The receiver end to end over real HTTP against the fake JIRA and fake SMMePlus (SQLite WAL store)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI, Request

from simulator.serving import ServerThread
from tests.receiver_stack import ReceiverStack, alert, notification, settle

REMOTE = {"severity": "warning", "maintenance": "remote", "team": "metering"}
SPECIALIST = {"severity": "warning", "maintenance": "specialist", "team": "specialist"}


@pytest.fixture
def stack(tmp_path):
    with ReceiverStack(tmp_path) as s:
        yield s


def ledger(stack, action_id):
    return stack.client.get(f"/api/actions/{action_id}").json()["ledger"]


def metric(stack, name, **labels):
    text = stack.client.get("/metrics").text
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return 0.0


# -- each action type through the fakes ------------------------------------------------------------------
def test_remote_command_goes_to_smmeplus_with_an_idempotency_key(stack):
    r = stack.post(
        "smmc-actions",
        notification(
            "smmc-actions",
            [alert("ConcentratorClockDrift", command="time_sync", concentrator="C1", **REMOTE)],
        ),
    )
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    [action] = settle(stack)
    assert action["status"] == "succeeded" and action["external_id"].startswith("cmd-")
    [cmd] = stack.smmeplus_commands()
    assert cmd["command"] == "time_sync" and cmd["target"] == {"concentrator": "C1"}
    assert cmd["id"] == action["external_id"] and cmd["idempotency_key"] == action["idem_key"]
    assert metric(stack, "smmc_receiver_actions_total", action="smmeplus_command", result="success") == 1
    assert metric(stack, "smmc_receiver_last_dispatch_success_timestamp_seconds") > 0


@pytest.mark.parametrize(
    ("labels", "action", "project", "summary_prefix"),
    [
        ({**SPECIALIST, "meter": "M1", "flag": "DRAM"}, "jira_ticket", "SPEC", "MeterFault"),
        (
            {
                "severity": "critical",
                "maintenance": "field",
                "team": "field-ops",
                "procedure": "SM04",
                "meter": "M2",
            },
            "field_order",
            "FIELD",
            "[SM04] MeterFault",
        ),
        (
            {
                "severity": "critical",
                "maintenance": "field",
                "team": "field-ops",
                "procedure": "SM05",
                "concentrator": "C9",
            },
            "field_order",
            "FIELD",
            "[SM05] MeterFault",
        ),
        (
            {"severity": "critical", "maintenance": "outage", "team": "grid-ops", "concentrator": "C3"},
            "outage_notice",
            "OPS",
            "MeterFault",
        ),
    ],
)
def test_ticket_actions_open_one_jira_issue(stack, labels, action, project, summary_prefix):
    a = alert(
        "MeterFault", annotations={"summary": "MeterFault", "description": "d", "runbook_url": "rb"}, **labels
    )
    stack.post("smmc-actions", notification("smmc-actions", [a]))
    [done] = settle(stack)
    assert (done["action"], done["status"]) == (action, "succeeded")
    [issue] = stack.jira_issues()
    assert issue["key"] == done["external_id"] and issue["key"].startswith(project + "-")
    assert issue["fields"]["summary"].startswith(summary_prefix)
    assert f"smmc-{done['correlation_key']}" in issue["fields"]["labels"]
    assert "Runbook: rb" in issue["fields"]["description"]
    if labels.get("procedure"):
        assert labels["procedure"] in issue["fields"]["labels"]


def test_record_only_alerts_touch_nothing_outside(stack):
    stack.post(
        "smmc-actions",
        notification(
            "smmc-actions",
            [alert("FirmwareCampaignPending", severity="info", maintenance="scheduled", team="metering")],
        ),
    )
    [a] = settle(stack)
    assert (a["action"], a["status"]) == ("record", "recorded")
    assert stack.jira_issues() == [] and stack.smmeplus_commands() == []


def test_noc_notify_records_and_forwards_to_the_chat_webhook(tmp_path):
    received = []
    chat = FastAPI()

    @chat.post("/hook")
    async def hook(request: Request):
        received.append(await request.json())
        return {"ok": True}

    with (
        ServerThread(chat) as chat_server,
        ReceiverStack(tmp_path, env={"SMMC_NOC_CHAT_WEBHOOK_URL": chat_server.url + "/hook"}) as stack,
    ):
        stack.post(
            "noc-notify",
            notification(
                "noc-notify",
                [alert("GridOutage", severity="critical", maintenance="outage", team="grid-ops")],
            ),
        )
        [a] = settle(stack)
        assert (a["action"], a["status"]) == ("notify", "succeeded")
        assert len(received) == 1 and "GridOutage" in received[0]["text"]


def test_noc_notify_without_a_chat_url_only_records(stack):
    stack.post("noc-notify", notification("noc-notify", [alert("GridOutage", severity="critical")]))
    [a] = settle(stack)
    assert (a["action"], a["status"]) == ("notify", "recorded")


def test_watchdog_heartbeat_is_recorded_and_exposed(stack):
    before = time.time()
    r = stack.post("watchdog", notification("watchdog", [alert("Watchdog", severity="info")]))
    assert r.status_code == 200 and r.json()["actions"] == []
    assert metric(stack, "smmc_receiver_watchdog_last_seen_timestamp_seconds") >= before - 1
    assert stack.actions() == []


# -- retries and backoff ------------------------------------------------------------------------------------
def test_retries_with_exponential_backoff_against_a_failing_jira(stack):
    stack.jira_fault(status=500, count=2, path="/rest/api/2/issue$", method="POST")
    stack.post("smmc-actions", notification("smmc-actions", [alert("MeterFault", meter="M1", **SPECIALIST)]))
    [a] = settle(stack)
    assert a["status"] == "succeeded" and a["attempts"] == 3
    retries = [e["detail"] for e in ledger(stack, a["id"]) if e["event"] == "retry_scheduled"]
    assert [r["http_status"] for r in retries] == [500, 500]
    assert retries[0]["delay_seconds"] < retries[1]["delay_seconds"]  # 0.05 s then 0.1 s, +-20 % jitter
    assert len(stack.jira_issues()) == 1
    assert metric(stack, "smmc_receiver_actions_total", action="jira_ticket", result="retry") == 2


def test_429_retry_after_is_honoured(stack):
    stack.jira_fault(status=429, count=1, retry_after=1, path="/search")
    stack.post("smmc-actions", notification("smmc-actions", [alert("MeterFault", meter="M1", **SPECIALIST)]))
    [a] = settle(stack)
    [retry] = [e["detail"] for e in ledger(stack, a["id"]) if e["event"] == "retry_scheduled"]
    assert retry["http_status"] == 429 and retry["retry_after"] == 1 and retry["delay_seconds"] >= 1
    assert a["status"] == "succeeded"


def test_gives_up_after_max_attempts_and_a_human_can_retry(tmp_path):
    with ReceiverStack(tmp_path, overrides={"worker.max_attempts": 3}) as stack:
        stack.jira_fault(status=500, count=100, path="/rest/api/")
        stack.post(
            "smmc-actions", notification("smmc-actions", [alert("MeterFault", meter="M1", **SPECIALIST)])
        )
        [a] = settle(stack)
        assert a["status"] == "failed" and a["attempts"] == 3 and "HTTP 500" in a["last_error"]
        stack.jira.delete("/_fake/faults")
        r = stack.operator.post(f"/api/actions/{a['id']}/retry", json={})
        assert r.status_code == 200 and r.json()["status"] == "pending"
        [a] = settle(stack)
        assert a["status"] == "succeeded" and len(stack.jira_issues()) == 1


def test_a_client_error_fails_without_retrying(stack):
    stack.jira_fault(status=400, count=1, path="/rest/api/2/issue$", method="POST")
    stack.post("smmc-actions", notification("smmc-actions", [alert("MeterFault", meter="M1", **SPECIALIST)]))
    [a] = settle(stack)
    assert a["status"] == "failed" and a["attempts"] == 1


def test_wrong_jira_credentials_are_a_401_failure(tmp_path):
    with ReceiverStack(tmp_path, env={"SMMC_TEST_JIRA_TOKEN": "wrong"}) as stack:
        stack.post(
            "smmc-actions", notification("smmc-actions", [alert("MeterFault", meter="M1", **SPECIALIST)])
        )
        [a] = settle(stack)
        assert a["status"] == "failed" and "HTTP 401" in a["last_error"]


def test_data_center_search_api_works_too(tmp_path):
    with ReceiverStack(tmp_path, overrides={"targets.jira.search_api": "v2"}) as stack:
        a1 = alert("MeterFault", meter="M1", **SPECIALIST)
        stack.post("smmc-actions", notification("smmc-actions", [a1]))
        settle(stack)
        a2 = dict(a1, startsAt="2026-05-04T12:00:00Z")
        stack.post("smmc-actions", notification("smmc-actions", [a2]))
        settle(stack)
        [issue] = stack.jira_issues()  # found again through /rest/api/2/search: commented, not duplicated
        assert len(issue["comments"]) == 1
        assert any(r["path"] == "/rest/api/2/search" for r in stack.jira.get("/_fake/requests").json())


def test_a_data_center_without_search_jql_falls_back_to_the_v2_search(stack):
    # default `search_api: jql`, but this JIRA answers 404 there (a Data Center has no /search/jql)
    stack.jira_fault(status=404, count=1000, path="^/rest/api/3/search/jql$")
    a1 = alert("MeterFault", meter="M1", **SPECIALIST)
    stack.post("smmc-actions", notification("smmc-actions", [a1]))
    [a] = settle(stack)
    assert a["status"] == "succeeded" and a["attempts"] == 1
    stack.post("smmc-actions", notification("smmc-actions", [dict(a1, startsAt="2026-05-04T12:00:00Z")]))
    settle(stack)
    [issue] = stack.jira_issues()  # found again through /rest/api/2/search: commented, not duplicated
    assert len(issue["comments"]) == 1
    paths = [r["path"] for r in stack.jira.get("/_fake/requests").json()]
    assert paths.count("/rest/api/3/search/jql") == 1 and "/rest/api/2/search" in paths


# -- idempotency ----------------------------------------------------------------------------------------
def test_identical_retry_and_ha_peer_copy_change_nothing(stack):
    alerts = [alert("MeterFault", meter=f"M{i}", **SPECIALIST) for i in range(3)]
    first = stack.post("smmc-actions", notification("smmc-actions", alerts, "http://am-0:9093"))
    assert first.json()["status"] == "accepted" and len(first.json()["actions"]) == 3
    again = stack.post("smmc-actions", notification("smmc-actions", alerts, "http://am-0:9093"))
    peer = stack.post("smmc-actions", notification("smmc-actions", alerts, "http://am-1:9093"))
    assert again.json() == peer.json() == {"status": "duplicate", "notification_id": None, "actions": []}
    # the peer grouped differently: a new notification, but no new action for a known episode
    partial = stack.post("smmc-actions", notification("smmc-actions", alerts[:2], "http://am-1:9093"))
    assert partial.json()["status"] == "accepted" and partial.json()["actions"] == []
    settle(stack)
    assert len(stack.actions()) == 3 and len(stack.jira_issues()) == 3
    assert (
        metric(stack, "smmc_receiver_notifications_total", receiver="smmc-actions", status="duplicate") == 2
    )
    assert metric(stack, "smmc_receiver_notifications_total", receiver="smmc-actions", status="accepted") == 2


def test_refire_reopen_and_resolve_a_ticket(stack):
    fire1 = alert("MeterFault", meter="M1", starts_at="2026-05-04T10:00:00Z", **SPECIALIST)
    stack.post("smmc-actions", notification("smmc-actions", [fire1]))
    settle(stack)
    [issue] = stack.jira_issues()
    key = issue["key"]
    # resolution comments and transitions the ticket
    stack.post(
        "smmc-actions",
        notification("smmc-actions", [dict(fire1, status="resolved", endsAt="2026-05-04T11:00:00Z")]),
    )
    settle(stack)
    [issue] = stack.jira_issues()
    assert issue["status"] == "Done" and "resolved" in issue["comments"][-1]["body"]
    # a re-fire (new episode) soon after closing reopens the same ticket
    fire2 = dict(fire1, startsAt="2026-05-04T12:00:00Z")
    stack.post("smmc-actions", notification("smmc-actions", [fire2]))
    settle(stack)
    [issue] = stack.jira_issues()
    assert issue["key"] == key and issue["status"] == "To Do"
    assert "reopened" in issue["comments"][-1]["body"]
    actions = stack.actions(alertname="MeterFault")
    assert [(a["phase"], a["status"], a["external_id"]) for a in actions] == [
        ("fire", "succeeded", key),
        ("resolve", "succeeded", key),
        ("fire", "succeeded", key),
    ]
    # closed long ago (older than reopen_max_age_seconds): a re-fire opens a new ticket
    stack.post(
        "smmc-actions",
        notification("smmc-actions", [dict(fire2, status="resolved", endsAt="2026-05-04T13:00:00Z")]),
    )
    settle(stack)
    long_ago = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    stack.jira.post(f"/_fake/issues/{key}/status", json={"status": "Done", "resolved_at": long_ago})
    stack.post("smmc-actions", notification("smmc-actions", [dict(fire1, startsAt="2026-05-05T10:00:00Z")]))
    settle(stack)
    issues = stack.jira_issues()
    assert len(issues) == 2 and issues[1]["key"] != key and issues[1]["status"] == "To Do"


def test_refire_while_the_ticket_is_open_comments_on_it(stack):
    fire1 = alert("MeterFault", meter="M1", **SPECIALIST)
    stack.post("smmc-actions", notification("smmc-actions", [fire1]))
    stack.post("smmc-actions", notification("smmc-actions", [dict(fire1, startsAt="2026-05-04T12:00:00Z")]))
    settle(stack)
    [issue] = stack.jira_issues()
    assert len(issue["comments"]) == 1 and "fired again" in issue["comments"][0]["body"]


def test_a_resolution_waits_for_its_firing_action_still_in_the_outbox(stack):
    # the ticket's creation is throttled once, so the firing action is still waiting for its retry when the
    # resolution arrives; the resolution must not run first (it would find no ticket, and the ticket the
    # retry then opens would stay open for ever)
    stack.jira_fault(status=429, count=1, retry_after=1, path="/rest/api/2/issue$", method="POST")
    fire = alert("MeterFault", meter="M1", **SPECIALIST)
    stack.post("smmc-actions", notification("smmc-actions", [fire]))
    stack.drain()
    [waiting] = stack.actions()
    assert waiting["status"] == "retry"
    resolved = dict(fire, status="resolved", endsAt="2026-05-04T11:00:00Z")
    stack.post("smmc-actions", notification("smmc-actions", [resolved]))
    actions = settle(stack)
    [issue] = stack.jira_issues()
    assert issue["status"] == "Done" and "resolved" in issue["comments"][-1]["body"]
    assert [(a["phase"], a["status"], a["external_id"]) for a in actions] == [
        ("fire", "succeeded", issue["key"]),
        ("resolve", "succeeded", issue["key"]),
    ]
    deferred = [e["detail"] for e in ledger(stack, actions[1]["id"]) if e["event"] == "deferred"]
    assert deferred and deferred[0]["fire_action_id"] == actions[0]["id"]
    assert actions[1]["attempts"] == 1  # a deferral does not use up an attempt


def test_two_dispatch_threads_never_open_two_tickets_for_one_problem(stack):
    # two alerts, one business key (same alertname and concentrator; only the severity differs)
    alerts = [
        alert("ConcentratorCswAlarm", concentrator="C7", severity=s, maintenance="specialist", team="t")
        for s in ("warning", "critical")
    ]
    stack.post("smmc-actions", notification("smmc-actions", alerts))
    stack.jira_fault(status=200, count=2, path="/search", delay_seconds=0.5)  # slow searches overlap
    threads = [threading.Thread(target=stack.receiver.worker.run_once) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    actions = settle(stack)
    [issue] = stack.jira_issues()
    assert [a["external_id"] for a in actions] == [issue["key"], issue["key"]]
    assert len(issue["comments"]) == 1 and "fired again" in issue["comments"][0]["body"]


# -- safety gates -----------------------------------------------------------------------------------------
def test_storm_opens_one_parent_incident_instead_of_many_tickets(stack):
    many = [alert("MeterCommLost", meter=f"M{i:03d}", concentrator="C1", **SPECIALIST) for i in range(25)]
    r = stack.post("smmc-actions", notification("smmc-actions", many))
    statuses = [a["status"] for a in r.json()["actions"]]
    assert statuses.count("suppressed") == 25 and statuses.count("pending") == 1
    late = [alert("MeterCommLost", meter=f"M{i:03d}", concentrator="C1", **SPECIALIST) for i in range(25, 28)]
    stack.post("smmc-actions", notification("smmc-actions", late))
    actions = settle(stack)
    [parent] = [a for a in actions if a["phase"] == "storm"]
    children = [a for a in actions if a["parent_id"] == parent["id"]]
    assert len(children) == 28 and all(c["status"] == "suppressed" for c in children)
    [issue] = stack.jira_issues()
    assert issue["key"] == parent["external_id"] and issue["fields"]["summary"].startswith(
        "Storm: 28 x MeterCommLost"
    )
    assert "meter=M027" in issue["fields"]["description"]


def test_storm_also_folds_earlier_actions_still_waiting(stack):
    first = [alert("MeterCommLost", meter=f"M{i}", **SPECIALIST) for i in range(15)]
    stack.post("smmc-actions", notification("smmc-actions", first))  # under the threshold: 15 pending
    second = [alert("MeterCommLost", meter=f"N{i}", **SPECIALIST) for i in range(10)]
    stack.post("smmc-actions", notification("smmc-actions", second))  # 25 > 20: storm
    actions = settle(stack)
    assert sum(a["status"] == "suppressed" for a in actions) == 25
    assert len(stack.jira_issues()) == 1


def test_below_the_storm_threshold_each_alert_gets_its_ticket(stack):
    stack.post(
        "smmc-actions",
        notification(
            "smmc-actions", [alert("MeterCommLost", meter=f"M{i}", **SPECIALIST) for i in range(20)]
        ),
    )
    settle(stack)
    assert len(stack.jira_issues()) == 20


def test_cooldown_suppresses_a_repeat_command_on_the_same_object(stack):
    a1 = alert("ConcentratorClockDrift", command="time_sync", concentrator="C1", **REMOTE)
    stack.post("smmc-actions", notification("smmc-actions", [a1]))
    settle(stack)
    stack.post("smmc-actions", notification("smmc-actions", [dict(a1, startsAt="2026-05-04T10:10:00Z")]))
    actions = settle(stack)
    assert [a["status"] for a in actions] == ["succeeded", "suppressed"]
    [e] = [e for e in ledger(stack, actions[1]["id"]) if e["event"] == "suppressed"]
    assert e["detail"]["reason"] == "cooldown" and e["detail"]["previous_action_id"] == actions[0]["id"]
    assert len(stack.smmeplus_commands()) == 1


def test_hourly_budget_per_action_type(tmp_path):
    with ReceiverStack(tmp_path, overrides={"action_types.jira_ticket.max_per_hour": 2}) as stack:
        stack.post(
            "smmc-actions",
            notification(
                "smmc-actions", [alert("MeterFault", meter=f"M{i}", **SPECIALIST) for i in range(3)]
            ),
        )
        actions = settle(stack)
        assert [a["status"] for a in actions] == ["succeeded", "succeeded", "suppressed"]
        assert len(stack.jira_issues()) == 2
        assert metric(stack, "smmc_receiver_actions_total", action="jira_ticket", result="suppressed") == 1


def test_harmful_command_waits_for_a_human_approval(stack):
    a = alert("MeterNotCommissioned", command="recommission_meter", meter="M1", **REMOTE)
    r = stack.post("smmc-actions", notification("smmc-actions", [a]))
    [planned] = r.json()["actions"]
    assert planned["status"] == "awaiting_approval"
    settle(stack)
    assert stack.smmeplus_commands() == []
    assert metric(stack, "smmc_receiver_actions_awaiting_approval") == 1
    # the webhook token cannot approve, and an operator cannot sign as someone else
    assert stack.client.post(f"/api/actions/{planned['id']}/approve", json={}).status_code == 403
    assert stack.operator.post(f"/api/actions/{planned['id']}/approve", json={"by": "x"}).status_code == 403
    assert stack.operator.post(f"/api/actions/{planned['id']}/approve", json={"by": 5}).status_code == 400
    ok = stack.operator.post(f"/api/actions/{planned['id']}/approve", json={"comment": "ok"})
    assert ok.status_code == 200 and ok.json()["approved_by"] == "ana.rojas"
    assert stack.operator.post(f"/api/actions/{planned['id']}/approve", json={}).status_code == 409
    [done] = settle(stack)
    assert done["status"] == "succeeded"
    [cmd] = stack.smmeplus_commands()
    assert cmd["command"] == "recommission_meter" and cmd["approved_by"] == "ana.rojas"
    assert cmd["parameters"] == {"steps": ["decommission", "commission"]}
    events = [
        (e["event"], e["detail"].get("by"), e["detail"].get("credential"))
        for e in ledger(stack, planned["id"])
    ]
    assert ("approved", "ana.rojas", "operator_token") in events


def test_rejected_command_is_never_sent(stack):
    a = alert("MeterNotCommissioned", command="recommission_meter", meter="M1", **REMOTE)
    [planned] = stack.post("smmc-actions", notification("smmc-actions", [a])).json()["actions"]
    r = stack.operator.post(f"/api/actions/{planned['id']}/reject", json={"by": "ana.rojas", "comment": "no"})
    assert r.json()["status"] == "rejected"
    settle(stack)
    assert stack.smmeplus_commands() == []
    assert stack.operator.post("/api/actions/999/approve", json={}).status_code == 404


@pytest.mark.parametrize("action_type", ["jira_ticket", "smmeplus_command"])
def test_dry_run_records_what_it_would_send(tmp_path, action_type):
    with ReceiverStack(tmp_path, overrides={f"action_types.{action_type}.dry_run": True}) as stack:
        stack.post(
            "smmc-actions",
            notification(
                "smmc-actions",
                [
                    alert("MeterFault", meter="M1", **SPECIALIST),
                    alert("ConcentratorClockDrift", command="time_sync", concentrator="C1", **REMOTE),
                ],
            ),
        )
        actions = {a["action"]: a for a in settle(stack)}
        assert actions[action_type]["status"] == "dry_run"
        other = {"jira_ticket": "smmeplus_command", "smmeplus_command": "jira_ticket"}[action_type]
        assert actions[other]["status"] == "succeeded"
        [e] = [e for e in ledger(stack, actions[action_type]["id"]) if e["event"] == "dry_run"]
        assert e["detail"]["would_send"]
        sent = stack.jira_issues() if action_type == "jira_ticket" else stack.smmeplus_commands()
        assert sent == []


# -- the HTTP surface --------------------------------------------------------------------------------------
def test_auth_and_bad_payloads(stack):
    good = notification("smmc-actions", [alert("MeterFault", meter="M1", **SPECIALIST)])
    assert stack.post("smmc-actions", good, token=None).status_code == 401
    assert stack.post("smmc-actions", good, token="wrong").status_code == 401
    assert stack.post("nobody", good).status_code == 404
    bad = stack.post("smmc-actions", b'{"version": "4", "alerts": "x"}')
    assert bad.status_code == 400 and "malformed Alertmanager payload" in bad.json()["detail"]
    assert stack.post("smmc-actions", b"{not json").status_code == 400
    assert stack.post("noc-notify", good).status_code == 400  # payload for another receiver
    huge = notification(
        "smmc-actions",
        [
            alert("MeterFault", meter=f"M{i}", annotations={"description": "x" * 5000}, **SPECIALIST)
            for i in range(1000)
        ],
    )
    assert stack.post("smmc-actions", huge).status_code == 413
    assert stack.client.get("/api/actions", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert stack.actions() == []
    assert metric(stack, "smmc_receiver_notifications_total", receiver="smmc-actions", status="rejected") == 5
    assert metric(stack, "smmc_receiver_notifications_total", receiver="unknown", status="rejected") == 1


def test_actions_api_filters_and_healthz(stack):
    stack.post(
        "smmc-actions",
        notification(
            "smmc-actions",
            [
                alert("MeterFault", meter="M1", **SPECIALIST),
                alert("ConcentratorClockDrift", command="time_sync", concentrator="C1", **REMOTE),
                alert("FirmwareCampaignPending", severity="info", maintenance="scheduled", team="metering"),
            ],
        ),
    )
    settle(stack)
    every = stack.actions()
    for field in ("id", "fingerprint", "alertname", "action", "status", "external_id", "created_at"):
        assert all(field in a for a in every)
    assert [a["alertname"] for a in stack.actions(status="recorded")] == ["FirmwareCampaignPending"]
    assert [a["alertname"] for a in stack.actions(action="smmeplus_command")] == ["ConcentratorClockDrift"]
    assert [a["action"] for a in stack.actions(alertname="MeterFault")] == ["jira_ticket"]
    health = stack.client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert metric(stack, "smmc_receiver_outbox_depth") == 0


def test_the_audit_ledger_cannot_be_rewritten(stack):
    stack.post("smmc-actions", notification("smmc-actions", [alert("MeterFault", meter="M1", **SPECIALIST)]))
    settle(stack)
    conn = sqlite3.connect(stack.db_url)
    for sql in ("UPDATE ledger SET event = 'nothing happened'", "DELETE FROM ledger"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(sql)
    conn.close()
    events = [e["event"] for e in stack.client.get("/api/ledger").json()]
    assert events == ["notification_received", "action_planned", "dispatch_started", "succeeded"]


def test_a_failed_write_answers_503_so_alertmanager_retries(stack):
    conn = sqlite3.connect(stack.db_url)
    conn.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON notifications BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    conn.commit()
    payload = notification("smmc-actions", [alert("MeterFault", meter="M1", **SPECIALIST)])
    r = stack.post("smmc-actions", payload)
    assert r.status_code == 503 and "retry" in r.json()["detail"]
    assert stack.actions() == []
    conn.execute("DROP TRIGGER refuse")
    conn.commit()
    conn.close()
    assert stack.post("smmc-actions", payload).json()["status"] == "accepted"  # Alertmanager's retry
    assert len(settle(stack)) == 1
    assert metric(stack, "smmc_receiver_store_errors_total") == 1


def test_background_worker_dispatches_without_help(tmp_path):
    with ReceiverStack(tmp_path, worker=True) as stack:
        stack.post(
            "smmc-actions", notification("smmc-actions", [alert("MeterFault", meter="M1", **SPECIALIST)])
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and stack.actions()[0]["status"] != "succeeded":
            time.sleep(0.05)
        assert stack.actions()[0]["status"] == "succeeded"
        assert json.loads(stack.client.get("/healthz").text)["status"] == "ok"


def test_a_stopped_intake_writer_answers_503_instead_of_hanging(stack):
    writer = stack.receiver.app.state.writer
    writer.stop()
    payload = notification("smmc-actions", [alert("MeterFault", meter="M2", **SPECIALIST)])
    r = stack.post("smmc-actions", payload)
    assert r.status_code == 503 and "not running" in r.json()["detail"]
    assert stack.client.get("/healthz").status_code == 503
    writer.start()
    assert stack.post("smmc-actions", payload).json()["status"] == "accepted"  # Alertmanager's retry
