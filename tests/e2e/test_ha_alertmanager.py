"""An HA Alertmanager pair: two real Alertmanagers clustered over loopback, one Prometheus sending to
both, both delivering to the receiver. One firing episode gives one action (one ticket, one command in
the fakes), with both up and when one Alertmanager is killed with SIGKILL in the middle of an episode.

Day 0: a wave of meter case openings (MeterTamperDetected -> one SMMePlus status check per meter).
Day 1: the case openings go on (the same episodes: nothing new may be sent) and a grid outage starts
(GridOutage -> one outage notice in JIRA); Alertmanager 0 is SIGKILLed as soon as Prometheus fires it.
Day 2: everything clears; the surviving Alertmanager delivers the resolutions.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from .ha import HAStack, start_ha_stack
from .harness import alertmanager_binary, prometheus_binary, wait_for

pytestmark = pytest.mark.e2e

TIMEOUT = 120
QUIET_SECONDS = 8  # several group intervals (2 s) and peer timeouts (2 s)


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HAStack]:
    missing = [
        n for n, f in (("prometheus", prometheus_binary()), ("alertmanager", alertmanager_binary())) if not f
    ]
    if missing:
        hint = "Debian: apt-get install prometheus prometheus-alertmanager"
        pytest.fail(f"the HA test needs {', '.join(missing)} ({hint})")
    stack = start_ha_stack(tmp_path_factory.mktemp("ha-stack"), first_day=["meter-case-openings"])
    try:
        yield stack
    finally:
        stack.close()


def _epoch(text: str) -> float:
    """RFC 3339 from Prometheus (nanoseconds, "Z") or the receiver (microseconds, "+00:00")."""
    text = text.replace("Z", "+00:00")
    m = re.fullmatch(r"([^.+]+)(?:\.(\d+))?([+-]\d\d:\d\d)", text)
    assert m, text
    whole = dt.datetime.fromisoformat(m.group(1) + m.group(3)).timestamp()
    return whole + float("0." + (m.group(2) or "0"))


def _firing(stack: HAStack, alertname: str, **labels: str) -> list[dict[str, Any]]:
    assert stack.prometheus is not None
    return stack.prometheus.firing(alertname, **labels)


def _fire_actions(stack: HAStack, alertname: str) -> list[dict[str, Any]]:
    return [a for a in stack.receiver_actions() if a["alertname"] == alertname and a["phase"] == "fire"]


def _check_one_per_episode(stack: HAStack) -> dict[str, Any]:
    """Every fire action is its own episode, and every ticket and command in the fakes is one action."""
    actions = stack.receiver_actions()
    fire = [a for a in actions if a["phase"] == "fire"]
    episodes = Counter((a["fingerprint"], a["starts_at"], a["rule"]) for a in fire)
    assert max(episodes.values(), default=1) == 1, episodes
    issues, commands = stack.jira_issues(), stack.smmeplus_commands()
    assert len({i["key"] for i in issues}) == len(issues) == stack.jira_creates()
    ids = Counter(a["external_id"] for a in actions if a["external_id"] and a["status"] == "succeeded")
    external = {i["key"] for i in issues} | {c["id"] for c in commands}
    assert external <= set(ids), external - set(ids)
    return {"actions": actions, "issues": issues, "commands": commands}


def test_the_pair_is_clustered(ha: HAStack) -> None:
    def both_see_two() -> bool:
        return all(
            am.cluster()["status"] == "ready" and len(am.cluster()["peers"]) == 2 for am in ha.alertmanagers
        )

    wait_for(both_see_two, 60, "both Alertmanagers to see two peers", processes=ha.group)


def test_one_action_per_episode_with_both_alertmanagers_up(ha: HAStack) -> None:
    concentrator = ha.days[0].targets["meter-case-openings"]["concentrator"]
    firing = wait_for(
        lambda: _firing(ha, "MeterTamperDetected", concentrator=concentrator),
        TIMEOUT,
        "MeterTamperDetected firing",
        processes=ha.group,
    )
    # both Alertmanagers hold the alerts: Prometheus sends to both
    for am in ha.alertmanagers:
        wait_for(
            lambda am=am: len(am.find("MeterTamperDetected", concentrator=concentrator)) >= len(firing),
            TIMEOUT,
            f"{am.address} to hold every MeterTamperDetected",
            processes=ha.group,
        )

    def commanded() -> list[dict[str, Any]] | None:
        meters = {a["labels"]["meter"] for a in _firing(ha, "MeterTamperDetected", concentrator=concentrator)}
        acted = [
            a
            for a in _fire_actions(ha, "MeterTamperDetected")
            if a["labels"].get("concentrator") == concentrator and a["status"] == "succeeded"
        ]
        return acted if meters and {a["labels"]["meter"] for a in acted} >= meters else None

    acted = wait_for(commanded, TIMEOUT, "a status check for every tampered meter", processes=ha.group)
    time.sleep(QUIET_SECONDS)  # the second Alertmanager's turn has come and gone
    seen = _check_one_per_episode(ha)
    again = [
        a for a in _fire_actions(ha, "MeterTamperDetected") if a["labels"].get("concentrator") == concentrator
    ]
    assert len(again) == len(acted)
    commands = [c for c in seen["commands"] if c["id"] in {a["external_id"] for a in again}]
    assert len(commands) == len(again) and {c["command"] for c in commands} == {"meter_status_check"}


def test_one_action_per_episode_when_an_alertmanager_is_killed(ha: HAStack) -> None:
    before = {a["id"] for a in _fire_actions(ha, "MeterTamperDetected")}
    record = ha.emit_day(["meter-case-openings", "grid-outage"])
    concentrator = record.targets["grid-outage"]["concentrator"]
    wait_for(
        lambda: _firing(ha, "GridOutage", concentrator=concentrator),
        TIMEOUT,
        "GridOutage firing",
        processes=ha.group,
    )
    # in the middle of the episode: Prometheus has sent it, the pair's group wait has not run out
    killed = ha.alertmanagers[0]
    killed.process.popen.kill()  # SIGKILL
    killed.process.popen.wait(10)
    survivor = ha.alertmanagers[1]

    def outage_notice() -> list[dict[str, Any]] | None:
        acted = [
            a
            for a in _fire_actions(ha, "GridOutage")
            if a["labels"].get("concentrator") == concentrator and a["status"] == "succeeded"
        ]
        return acted or None

    acted = wait_for(outage_notice, TIMEOUT, "the outage notice after the kill", processes=None)
    time.sleep(QUIET_SECONDS)
    seen = _check_one_per_episode(ha)
    outage = [a for a in _fire_actions(ha, "GridOutage") if a["labels"].get("concentrator") == concentrator]
    assert len(outage) == len(acted) == 1
    tickets = [i for i in seen["issues"] if i["key"] == outage[0]["external_id"]]
    assert len(tickets) == 1 and tickets[0]["fields"]["project"]["key"] == "OPS"
    # the case openings that went on through the kill are the same episodes: one action each, though
    # the survivor re-sent their groups (it gossiped the pair's notification log, or the receiver
    # deduplicated what it had not)
    continuing = [a for a in _firing(ha, "MeterTamperDetected") if _epoch(a["activeAt"]) < record.emitted_at]
    assert continuing, "no case opening spans the kill"
    for alert in continuing:
        episode = [
            a
            for a in _fire_actions(ha, "MeterTamperDetected")
            if a["labels"].get("meter") == alert["labels"]["meter"]
            and _epoch(a["starts_at"]) >= _epoch(alert["activeAt"])  # startsAt is when it began to fire
        ]
        assert len(episode) == 1 and episode[0]["id"] in before, (alert["labels"], episode)
    assert survivor.process.alive and len(survivor.cluster()["peers"]) >= 1


def test_resolutions_delivered_by_the_survivor_once(ha: HAStack) -> None:
    ha.emit_day([])
    survivor = ha.alertmanagers[1]
    assert survivor.process.alive

    def resolved() -> list[dict[str, Any]] | None:
        actions = [
            a for a in ha.receiver_actions() if a["alertname"] == "GridOutage" and a["phase"] == "resolve"
        ]
        return actions or None

    wait_for(resolved, TIMEOUT, "the GridOutage resolution", processes=None)
    time.sleep(QUIET_SECONDS)
    resolves = Counter(
        (a["fingerprint"], a["starts_at"], a["rule"])
        for a in ha.receiver_actions()
        if a["phase"] == "resolve"
    )
    assert max(resolves.values()) == 1, resolves
    _check_one_per_episode(ha)
