"""Detection latency, hop by hop, on the end-to-end stack: an SWE file lands -> the SMMePlus exporter shows
it -> Prometheus scrapes it -> the alert is pending, then firing (its `for:`) -> Alertmanager holds it
(group_wait) -> the receiver records the action. Against the sum of the configured intervals.

    .venv/bin/python bench/bench_e2e_latency.py [--runs 3]

The stack is tests/e2e's (real Prometheus and Alertmanager processes, the exporters, the receiver and the
fakes on 127.0.0.1, rules generated with every `for:` divided by 1800; see tests/e2e/stack.py). Each run
emits a day with the `meter-case-openings` scenario on a fresh concentrator rank and polls every hop
every 50 ms; a hop's time is when it was first seen, from the moment the day's files were in the inbox.
Prints a Markdown section for docs/benchmarks.md and the raw figures as JSON on stderr.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.harness import wait_for  # noqa: E402
from tests.e2e.stack import TIME_SCALE, Stack, scaled_for, start_stack  # noqa: E402

ALERT = "MeterTamperDetected"
HOPS = ("exporter", "scraped", "pending", "firing", "alertmanager", "receiver")
# the e2e stack's configured intervals (tests/e2e/stack.py and harness.py)
SETTLE, SCAN, SCRAPE, EVALUATE, GROUP_WAIT = 0.5, 0.5, 1.0, 1.0, 1.0


def _for_seconds() -> float:
    text = (ROOT / "rules" / "meters.rules.yml").read_text()
    block = text[text.index(f"alert: {ALERT}") :]
    value = re.search(r"for: (\d+)([smhd])", block)
    assert value is not None
    seconds = int(value.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[value.group(2)]
    return scaled_for(seconds, TIME_SCALE)


def _flagged(client: httpx.Client) -> set[tuple[str, str]]:
    """(meter, concentrator) of every active CAPE series on the exporter's /metrics."""
    pattern = re.compile(r'^smmc_meter_flag_active\{meter="([^"]*)",concentrator="([^"]*)",flag="CAPE"\}')
    found = (pattern.match(x) for x in client.get("/metrics").text.splitlines())
    return {(m.group(1), m.group(2)) for m in found if m}


def one_run(stack: Stack) -> dict[str, float]:
    assert stack.prometheus is not None and stack.alertmanager is not None
    exporter = httpx.Client(base_url=stack.services["smmeplus"].url, timeout=10)
    before = _flagged(exporter)  # what the day before left: not this run's
    old_actions = {a["id"] for a in stack.receiver_actions(alertname=ALERT)}
    emit_start = time.perf_counter()
    record = stack.emit_day(["meter-case-openings"])
    landed = time.perf_counter()
    conc = record.targets["meter-case-openings"]["concentrator"]
    seen: dict[str, float] = {"emit_day": landed - emit_start}
    new: set[str] = set()  # the meters this run flags

    def mine(labels: dict) -> bool:
        return labels.get("alertname") == ALERT and labels.get("meter") in new

    def on_exporter() -> bool:
        new.update(m for m, c in _flagged(exporter) - before if c == conc)
        return bool(new)

    checks = {
        "exporter": on_exporter,
        "scraped": lambda: any(
            s["metric"].get("meter") in new
            for s in stack.prometheus.query(f'smmc_meter_flag_active{{concentrator="{conc}",flag="CAPE"}}')
        ),
        "pending": lambda: any(mine(a["labels"]) for a in stack.prometheus.alerts()),
        "firing": lambda: any(
            mine(a["labels"]) and a["state"] == "firing" for a in stack.prometheus.alerts()
        ),
        "alertmanager": lambda: any(mine(a["labels"]) for a in stack.alertmanager.alerts(active=True)),
        "receiver": lambda: any(
            mine({**a["labels"], "alertname": ALERT}) and a["phase"] == "fire" and a["id"] not in old_actions
            for a in stack.receiver_actions(alertname=ALERT)
        ),
    }
    deadline = landed + 180
    try:
        while len(seen) <= len(HOPS):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"hops not seen in 180 s: {sorted(set(HOPS) - set(seen))}")
            for hop in HOPS:
                if hop not in seen and (hop == "exporter" or new) and checks[hop]():
                    seen[hop] = time.perf_counter() - landed
            time.sleep(0.05)
    finally:
        exporter.close()
    return seen


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args(argv)
    for_seconds = _for_seconds()
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-e2e-latency-") as tmp:
        stack = start_stack(Path(tmp))
        try:
            assert stack.prometheus is not None
            evaluating = stack.prometheus.firing
            wait_for(lambda: evaluating("Watchdog"), 120, "the stack evaluating", processes=stack.group)
            for _ in range(args.runs):
                runs.append(one_run(stack))
                print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
                stack.emit_day([])  # the incident clears before the next one
                time.sleep(8)
        finally:
            stack.close()
    median = {hop: statistics.median(r[hop] for r in runs) for hop in HOPS}
    budget = {
        "exporter": (SETTLE + SCAN, f"settle {SETTLE:g} s + scan <= {SCAN:g} s, then the ingest"),
        "scraped": (SCRAPE, f"scrape interval {SCRAPE:g} s"),
        "pending": (EVALUATE, f"evaluation interval {EVALUATE:g} s"),
        "firing": (for_seconds + EVALUATE, f"`for:` {for_seconds:g} s (15m / {TIME_SCALE}) + an evaluation"),
        "alertmanager": (0.0, "sent on the evaluation that fires it"),
        "receiver": (GROUP_WAIT, f"group_wait {GROUP_WAIT:g} s, then the receiver's intake"),
    }
    lines = [
        f"### Detection latency on the e2e stack (`{ALERT}`, median of {len(runs)} runs)",
        "",
        "| hop | reached after (cumulative) | this hop | configured upper bound of this hop |",
        "|---|---|---|---|",
    ]
    previous = 0.0
    total_budget = 0.0
    for hop in HOPS:
        bound, why = budget[hop]
        total_budget += bound
        lines.append(f"| {hop} | {median[hop]:.2f} s | {median[hop] - previous:.2f} s | {bound:g} s: {why} |")
        previous = median[hop]
    lines += [
        "",
        f"File landed -> receiver action recorded: **{median['receiver']:.2f} s** against "
        f"{total_budget:g} s of configured intervals (the ingest itself not counted in them): "
        f"**{median['receiver'] / total_budget:.2f}x**.",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
