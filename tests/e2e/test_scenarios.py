"""Each scenario from a source file to an action, through real Prometheus and Alertmanager processes.

Day 0 is the utility's ordinary day (plus the late Cloudera job, see conftest). Day 1 switches every
scenario on at once, each on its own concentrator, router or job; the tests check, per scenario, what
its file's `expect` says: the alert fires in Prometheus, Alertmanager delivers it, the receiver records
the expected action and the fake JIRA or SMMePlus holds it, inhibited alerts reach nobody. Day 2 switches
them all off: the alerts resolve, and the receiver records the resolution.

The dual-date check: the same incident and recovery run twice on the one stack, on the stack's pinned
calendar (START_DATE) and again after the calendar jumps to DST_DATE (a daylight-saving change day in
America/Santiago). Each run's verdicts are its own (only actions recorded after its incident count), and
every test runs in both: the same verdicts on two dates.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from simulator.scenarios import Scenario, available, load_scenario

from .harness import wait_for
from .stack import DST_DATE, Stack

pytestmark = pytest.mark.e2e

SCENARIOS = available()
# an alert delivered by Alertmanager reaches the receiver within group_wait/group_interval (1 s / 2 s);
# the longest compressed `for:` a scenario waits on is a day (48 s)
FIRE_TIMEOUT = 120
QUIET_SECONDS = 6
# the two calendars the scenarios run on; None: the stack's own (the day after its day 0)
DATES = {"pinned": None, "dst": DST_DATE}
# Scenarios on the real clock, not the simulated calendar: the Cloudera report is written "as of now"
# because its exporter judges deadlines on the wall clock, and a job that succeeded today (the pinned
# run's recovery) cannot be late again the same day. The calendar does not reach them; they run once.
REAL_CLOCK = tuple(n for n in SCENARIOS if "cloudera" in load_scenario(n).effects)


def fill(labels: dict[str, str], targets: dict[str, Any]) -> dict[str, str]:
    return {k: str(v).format(**targets) for k, v in labels.items()}


def matches(labels: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


@pytest.fixture(scope="module", params=list(DATES))
def incident(stack: Stack, request: pytest.FixtureRequest) -> Any:
    # the ordinary day first: every target scraped and every rule evaluated on it, so that an episode
    # the incident starts is told apart from one the ordinary day started
    assert stack.prometheus is not None
    wait_for(
        lambda: (
            all(t["health"] == "up" for t in stack.prometheus.targets())
            and stack.prometheus.firing("Watchdog")
        ),
        60,
        "the ordinary day scraped and evaluated",
        processes=stack.group,
    )
    time.sleep(3)
    date = DATES[request.param]
    if date is not None:
        stack.utility.jump_to(date)
    record = stack.emit_day(SCENARIOS if date is None else [n for n in SCENARIOS if n not in REAL_CLOCK])
    assert date is None or record.date == date
    return record


def _since(incident: Any) -> float:
    """Fire actions count from this run's incident on. The pinned run counts them from the stack's start:
    the late Cloudera job is in day 0 already (conftest), and may have acted before the incident."""
    return incident.emitted_at if incident.date == DATES["dst"] else 0.0


def _only_once(incident: Any, name: str) -> None:
    if name not in incident.scenarios:
        pytest.skip(f"{name} runs on the real clock, not the simulated calendar: checked in the pinned run")


@pytest.fixture(scope="module")
def cleared(stack: Stack, incident: Any) -> Any:
    return stack.emit_day([])


def _scenario(name: str) -> Scenario:
    return load_scenario(name)


def _firing(stack: Stack, alertname: str, wanted: dict[str, str]) -> list[dict[str, Any]]:
    assert stack.prometheus is not None
    return [a for a in stack.prometheus.firing(alertname) if matches(a["labels"], wanted)]


def _actions(
    stack: Stack, alertname: str, wanted: dict[str, str], phase: str, since: float
) -> list[dict[str, Any]]:
    """The receiver's actions of a phase (fire, resolve) recorded since `since` (this run's day)."""
    return [
        a
        for a in stack.receiver_actions(alertname=alertname)
        if a["phase"] == phase and matches(a["labels"], wanted) and a["created_at"] >= since
    ]


def _expected_labels(scenario: Scenario, alertname: str, targets: dict[str, Any]) -> dict[str, str]:
    for item in scenario.expect.get("firing", []) + scenario.expect.get("inhibited", []):
        if item["alertname"] == alertname:
            return fill(item.get("labels", {}), targets)
    return {}


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_fires_and_acts(stack: Stack, incident: Any, name: str) -> None:
    _only_once(incident, name)
    scenario = _scenario(name)
    targets = incident.targets[name]
    procs = stack.group

    for item in scenario.expect.get("firing", []):
        wanted = fill(item.get("labels", {}), targets)
        wait_for(
            lambda a=item["alertname"], w=wanted: _firing(stack, a, w),
            FIRE_TIMEOUT,
            f"{name}: {item['alertname']}{wanted} firing in Prometheus",
            processes=procs,
        )

    for item in scenario.expect.get("actions", []):
        alertname = item["alertname"]
        wanted = _expected_labels(scenario, alertname, targets)

        def done(alertname: str = alertname, wanted: dict[str, str] = wanted) -> list[dict[str, Any]]:
            return [
                a
                for a in _actions(stack, alertname, wanted, "fire", _since(incident))
                if a["status"] == "succeeded" and a["external_id"]
            ]

        actions = wait_for(
            done,
            FIRE_TIMEOUT,
            f"{name}: the receiver's {item['action']} for {alertname}{wanted}",
            processes=procs,
        )
        assert {a["action"] for a in actions} == {item["action"]}, actions
        ids = {a["external_id"] for a in actions}
        if item["system"] == "jira":
            issues = [i for i in stack.jira_issues() if i["key"] in ids]
            assert issues, f"{name}: JIRA issues {ids} not in the fake JIRA"
            projects = {i["fields"]["project"]["key"] for i in issues}
            assert projects == {item["project"]}, issues
        elif item["system"] == "smmeplus":
            commands = [c for c in stack.smmeplus_commands() if c["id"] in ids]
            assert commands, f"{name}: SMMePlus commands {ids} not in the fake SMMePlus"
            assert {c["command"] for c in commands} == {item["command"]}, commands
        else:
            raise AssertionError(f"{name}: unknown system {item['system']!r}")

    for item in scenario.expect.get("inhibited", []):
        alertname = item["alertname"]
        wanted = fill(item.get("labels", {}), targets)
        assert stack.alertmanager is not None
        wait_for(
            lambda a=alertname, w=wanted: _firing(stack, a, w),
            FIRE_TIMEOUT,
            f"{name}: {alertname}{wanted} firing in Prometheus (to be inhibited)",
            processes=procs,
        )
        inhibited = wait_for(
            lambda a=alertname, w=wanted: [
                x for x in stack.alertmanager.find(a, **w) if x["status"]["inhibitedBy"]
            ],
            FIRE_TIMEOUT,
            f"{name}: Alertmanager inhibiting {alertname}{wanted}",
            processes=procs,
        )
        inhibited_at = time.time()
        assert all(x["status"]["state"] == "suppressed" for x in inhibited), inhibited
        # several group intervals later it has reached nobody since (an episode of it delivered before its
        # cause was known, e.g. from the ordinary day, is not a failure of the inhibition)
        time.sleep(QUIET_SECONDS)
        assert all(x["status"]["inhibitedBy"] for x in stack.alertmanager.find(alertname, **wanted))
        delivered = [
            a
            for a in _actions(stack, alertname, wanted, "fire", incident.emitted_at)
            # delivered once inhibited, or an episode the scenario itself started (its cause came first)
            if a["created_at"] >= inhibited_at
            or datetime.fromisoformat(a["starts_at"]).timestamp() >= incident.emitted_at
        ]
        assert not delivered, f"{name}: inhibited {alertname} was delivered: {delivered}"

    for item in scenario.expect.get("not_firing", []):
        wanted = fill(item.get("labels", {}), targets)
        assert not _firing(stack, item["alertname"], wanted), f"{name}: {item['alertname']} fires"

    for item in scenario.expect.get("metrics", []):
        assert stack.prometheus is not None
        expr = item["expr"]
        for key, target in targets.items():  # not str.format: PromQL has braces of its own
            expr = expr.replace("{" + key + "}", str(target))

        def value(expr: str = expr) -> float | None:
            result = stack.prometheus.query(expr)
            return float(result[0]["value"][1]) if result else None

        wait_for(
            lambda v=value, m=item["min"]: (v() or 0) >= m,
            FIRE_TIMEOUT,
            f"{name}: {expr} >= {item['min']}",
            processes=procs,
        )


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_clears_and_resolves(stack: Stack, incident: Any, cleared: Any, name: str) -> None:
    _only_once(incident, name)
    scenario = _scenario(name)
    targets = incident.targets[name]
    for item in scenario.expect.get("firing", []):
        alertname = item["alertname"]
        wanted = fill(item.get("labels", {}), targets)
        wait_for(
            lambda a=alertname, w=wanted: not _firing(stack, a, w),
            FIRE_TIMEOUT,
            f"{name}: {alertname}{wanted} no longer firing after the scenario cleared",
            processes=stack.group,
        )
    for item in scenario.expect.get("actions", []):
        alertname = item["alertname"]
        wanted = _expected_labels(scenario, alertname, targets)
        resolved = wait_for(
            lambda a=alertname, w=wanted: _actions(stack, a, w, "resolve", cleared.emitted_at),
            FIRE_TIMEOUT,
            f"{name}: the receiver recording {alertname}{wanted} resolved",
            processes=stack.group,
        )
        assert all(a["status"] in ("succeeded", "recorded") for a in resolved) or wait_for(
            lambda a=alertname, w=wanted: all(
                x["status"] in ("succeeded", "recorded")
                for x in _actions(stack, a, w, "resolve", cleared.emitted_at)
            ),
            FIRE_TIMEOUT,
            f"{name}: the resolution of {alertname} dispatched",
        )
        if item["system"] == "jira":
            fired = _actions(stack, alertname, wanted, "fire", _since(incident))
            keys = {a["external_id"] for a in fired if a["external_id"]}
            issues = [i for i in stack.jira_issues() if i["key"] in keys]
            assert issues and all(i["comments"] for i in issues), f"{name}: no resolution comment on {keys}"
