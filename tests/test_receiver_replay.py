"""Replay: recorded Alertmanager webhook payloads (tests/fixtures/alertmanager/payloads, captured from the
real Alertmanager by record.py) go through the receiver and the fakes; the resulting actions must match
the golden file. Regenerate after an intended change with SMMC_UPDATE_GOLDEN=1 and review the diff."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.receiver_stack import ReceiverStack, settle

FIXTURES = Path(__file__).parent / "fixtures" / "alertmanager"
GOLDEN = FIXTURES / "golden" / "replay_actions.json"


def _summarise(stack, actions):
    out = []
    for a in actions:
        events = stack.client.get(f"/api/actions/{a['id']}").json()["ledger"]
        final = events[-1]
        out.append(
            {
                "alertname": a["alertname"],
                "receiver": a["receiver"],
                "phase": a["phase"],
                "rule": a["rule"],
                "action": a["action"],
                "params": a["params"],
                "status": a["status"],
                "approval_required": a["approval_required"],
                # SMMePlus command ids are random; JIRA keys are deterministic in a replay
                "external_id": a["external_id"]
                if a["action"] != "smmeplus_command"
                else bool(a["external_id"]),
                "outcome": final["detail"].get("outcome", final["event"]),
            }
        )
    return out


def test_recorded_payloads_give_the_golden_actions(tmp_path):
    payloads = sorted((FIXTURES / "payloads").glob("*.json"))
    assert len(payloads) >= 30
    with ReceiverStack(tmp_path) as stack:
        for path in payloads:
            body = path.read_bytes()
            receiver = json.loads(body)["receiver"]
            r = stack.post(receiver, body)
            assert r.status_code == 200 and r.json()["status"] == "accepted", (path.name, r.text)
            # the copy the second Alertmanager of the HA pair sends changes nothing
            peer = json.loads(body)
            peer["externalURL"] = "http://alertmanager-1:9093"
            assert stack.post(receiver, peer).json()["status"] == "duplicate", path.name
            settle(stack)
        got = _summarise(stack, stack.actions())
        watchdog_seen = stack.receiver.store.outbox_stats(0)["watchdog_last_seen"]
    assert watchdog_seen > 0
    if os.environ.get("SMMC_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    expected = json.loads(GOLDEN.read_text())
    assert got == expected
