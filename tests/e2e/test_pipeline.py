"""The pipeline itself on the end-to-end stack: every target up, every rule healthy, the Watchdog
(the dead man's switch) through Alertmanager to the receiver."""

from __future__ import annotations

import time

import pytest

from .harness import wait_for
from .stack import LOCAL_JOBS, Stack

pytestmark = pytest.mark.e2e


def test_every_scrape_target_is_up_and_only_the_optional_jobs_are_dropped(stack: Stack) -> None:
    assert sorted(stack.dropped_jobs) == ["azure-eventhub", "grafana"]
    assert stack.prometheus is not None

    def all_up() -> bool:
        targets = stack.prometheus.targets()
        return {t["labels"]["job"] for t in targets} == set(LOCAL_JOBS) and all(
            t["health"] == "up" for t in targets
        )

    wait_for(all_up, 60, "every target up", processes=stack.group)


def test_every_rule_of_the_repository_loads_and_evaluates(stack: Stack) -> None:
    assert stack.prometheus is not None
    from smmc.rules.model import load

    ruleset = load()
    wanted = {a.name for a in ruleset.alerts} | {r.record for r in ruleset.recording}

    def evaluated() -> list[dict]:
        rules = [r for g in stack.prometheus.rule_groups() for r in g["rules"]]
        seen = {r.get("name") for r in rules}
        return (
            rules
            if wanted <= seen and all(r.get("lastEvaluation", "").startswith("2") for r in rules)
            else []
        )

    rules = wait_for(evaluated, 60, "every rule evaluated", processes=stack.group)
    broken = {r["name"]: r.get("lastError") for r in rules if r.get("health") != "ok"}
    assert not broken, broken


def test_the_watchdog_keeps_reaching_the_receiver(stack: Stack) -> None:
    """Alertmanager repeats the Watchdog every minute (its route's repeat_interval); each repeat, identical
    to the previous one, must still move the receiver's heartbeat forward."""
    assert stack.prometheus is not None
    started = time.time()

    def seen() -> float:
        result = stack.prometheus.query("max(smmc_receiver_watchdog_last_seen_timestamp_seconds)")
        return float(result[0]["value"][1]) if result else 0.0

    wait_for(
        lambda: seen() >= started, 100, "a Watchdog heartbeat after the test began", processes=stack.group
    )
    # The alert fires from the receiver's start (no heartbeat yet: last seen 0) until the first one; the
    # scrape that shows the heartbeat can precede the rule evaluation that clears it, so give it a few.
    wait_for(
        lambda: not stack.prometheus.firing("ReceiverWatchdogMissing"),
        60,
        "ReceiverWatchdogMissing cleared once the heartbeat arrives",
        processes=stack.group,
    )
