"""The alert count of an ordinary simulated day: the default demo size, no scenario, the repository's
rules as they are (real `for:` durations) on a real Prometheus, the stack of stack.py.

The stack emits day 0, scrapes and evaluates it, then emits day 1, the ordinary day measured (the second
day, so the work-order counters have a day's increase, as in a running demo). Once the exporter has
ingested day 1 and the rules have been evaluated on it twice, the count is every alert in Prometheus,
pending or firing, except the Watchdog (the dead man's switch, always firing by design): with real
`for:` durations a day's alerts are mostly pending when counted; each would fire unless the next day
clears it. The rungs of one problem's ladder (e.g. `MeterPowerOut` and `MeterPowerOutPersistent` of one
meter) are pending together; `problems` counts what reaches people once Alertmanager's ladder inhibition
(alertmanager.yml: a higher rung replaces the lower ones for the same object) has left one rung each.

    python -m tests.e2e.calm --seeds 1 2 3      # the figures of docs/stack.md ("An ordinary day")
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from simulator.utility import METERS_PER_CONCENTRATOR

from .harness import ALERTMANAGER_YML, wait_for
from .stack import START_DATE, Stack, start_stack

# docker-compose.yml's default demo size (SMMC_SIM_METERS)
DEMO_METERS = 2000
# what an ordinary day may bring at that size before the test fails (docs/stack.md has the measurements)
ORDINARY_DAY_MAX_PROBLEMS = 12
ORDINARY_DAY_MAX_ALERTS = 24
RUNGS = {"remote": 1, "specialist": 2, "field": 3}
NOT_COUNTED = ("Watchdog",)
# every file kind of a simulated day (exporters/smmeplus/kinds.py)
DAILY_KINDS = ("swe", "hpe", "lpe", "csw", "technical", "msw")


@dataclass(frozen=True)
class DayCount:
    seed: int
    date: dt.date
    firing: Counter[str]
    pending: Counter[str]
    problems: Counter[str]

    @property
    def total(self) -> int:
        return sum(self.firing.values()) + sum(self.pending.values())

    def summary(self) -> str:
        names = sorted(set(self.firing) | set(self.pending))
        parts = [f"{n} {self.firing[n]}+{self.pending[n]}" for n in names]
        reaching = ", ".join(f"{n} {c}" for n, c in sorted(self.problems.items()))
        return (
            f"seed {self.seed} ({self.date}): {self.total} alerts ({', '.join(parts) or 'none'}); "
            f"{sum(self.problems.values())} problems ({reaching or 'none'})"
        )


def ladder_labels() -> tuple[str, ...]:
    """The labels that make two rungs the same object and problem: the ladder inhibition's `equal`."""
    config = yaml.safe_load(ALERTMANAGER_YML.read_text(encoding="utf-8"))
    for rule in config.get("inhibit_rules") or []:
        if any(str(m).startswith("maintenance=") for m in rule.get("source_matchers") or []):
            return tuple(rule["equal"])
    raise ValueError(f"{ALERTMANAGER_YML}: no ladder inhibition (source_matchers on maintenance)")


def problems(alerts: list[dict]) -> Counter[str]:
    """The alerts left once a higher rung of the same object and problem replaces the lower ones."""
    equal = ladder_labels()

    def key(labels: dict[str, str]) -> tuple[str, ...]:
        return tuple(labels.get(k, "") for k in equal)

    left: Counter[str] = Counter()
    for alert in alerts:
        labels = alert["labels"]
        rung = RUNGS.get(labels.get("maintenance", ""), 0)
        higher = any(
            RUNGS.get(o["labels"].get("maintenance", ""), 0) > rung and key(o["labels"]) == key(labels)
            for o in alerts
        )
        if not (rung and higher):
            left[labels["alertname"]] += 1
    return left


def _ingested_since(stack: Stack, since: float) -> bool:
    assert stack.prometheus is not None
    selector = f'smmc_source_last_ingest_timestamp_seconds{{kind=~"{"|".join(DAILY_KINDS)}"}}'
    result = stack.prometheus.query(f"count({selector} >= {since}) == {len(DAILY_KINDS)}")
    return bool(result)


def _evaluated_twice_since(stack: Stack, since: float) -> bool:
    assert stack.prometheus is not None
    stamps = [
        dt.datetime.fromisoformat(g["lastEvaluation"].replace("Z", "+00:00")).timestamp()
        for g in stack.prometheus.rule_groups()
    ]
    interval = max(float(g["interval"]) for g in stack.prometheus.rule_groups())
    return bool(stamps) and min(stamps) >= since + interval


def count_ordinary_day(stack: Stack) -> DayCount:
    """Emit the ordinary day on a running stack whose day 0 has been emitted, and count its alerts."""
    assert stack.prometheus is not None
    prometheus = stack.prometheus
    wait_for(
        lambda: all(t["health"] == "up" for t in prometheus.targets()) and prometheus.firing("Watchdog"),
        120,
        "day 0 scraped and evaluated",
        processes=stack.group,
    )
    record = stack.emit_day([])
    wait_for(lambda: _ingested_since(stack, record.emitted_at), 120, "day 1 ingested", processes=stack.group)
    ingested = time.time()
    wait_for(
        lambda: _evaluated_twice_since(stack, ingested + 2),
        60,
        "the rules evaluated on day 1",
        processes=stack.group,
    )
    firing: Counter[str] = Counter()
    pending: Counter[str] = Counter()
    alerts = [a for a in prometheus.alerts() if a["labels"]["alertname"] not in NOT_COUNTED]
    for alert in alerts:
        (firing if alert["state"] == "firing" else pending)[alert["labels"]["alertname"]] += 1
    return DayCount(stack.utility.seed, record.date, firing, pending, problems(alerts))


def measure(workdir: Path, seed: int, start_date: dt.date = START_DATE) -> DayCount:
    stack = start_stack(
        workdir,
        meters=DEMO_METERS,
        seed=seed,
        start_date=start_date,
        meters_per_concentrator=METERS_PER_CONCENTRATOR,
        time_scale=1,
    )
    try:
        return count_ordinary_day(stack)
    finally:
        stack.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.e2e.calm", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--start-date", type=dt.date.fromisoformat, default=START_DATE)
    args = p.parse_args(argv)
    for seed in args.seeds:
        with tempfile.TemporaryDirectory(prefix="smmc-calm-") as tmp:
            print(measure(Path(tmp), seed, args.start_date).summary(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
