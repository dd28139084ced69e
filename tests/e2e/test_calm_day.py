"""An ordinary simulated day is calm: at the default demo size, with no scenario, the repository's rules
(real `for:` durations) on a real Prometheus raise no more than a handful of alerts, so that each
scenario's alerts stand out and a NOC demo does not teach people to ignore alerts. docs/stack.md ("An
ordinary day") gives the measured counts for three seeds; `python -m tests.e2e.calm` measures them."""

from __future__ import annotations

from pathlib import Path

import pytest

from .calm import ORDINARY_DAY_MAX_ALERTS, ORDINARY_DAY_MAX_PROBLEMS, measure

pytestmark = pytest.mark.e2e


def test_an_ordinary_day_brings_a_handful_of_alerts(tmp_path: Path) -> None:
    day = measure(tmp_path, seed=1)
    # what reaches people (one rung per object and problem) and what Prometheus holds (every rung)
    assert sum(day.problems.values()) <= ORDINARY_DAY_MAX_PROBLEMS, day.summary()
    assert day.total <= ORDINARY_DAY_MAX_ALERTS, day.summary()
    # no alert name is a storm on its own: the old baseline's 122 pending MeterTamperDetected cannot return
    counts = day.firing + day.pending
    assert max(counts.values(), default=0) <= ORDINARY_DAY_MAX_PROBLEMS // 2, day.summary()
