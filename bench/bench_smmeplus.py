"""SMMePlus exporter benchmark: SWE ingest against plain pandas.read_csv, and /metrics latency against a
plain prometheus_client custom Collector, both measured in the same run.

    .venv/bin/python bench/bench_smmeplus.py [--swe-rows 1000000] [--series 50000] [--scrapes 40]

Each ingest measurement runs in a fresh child process, so its peak RSS is its own. Prints a Markdown
section for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAY = dt.date(2021, 10, 7)


def _child_baseline(path: str) -> dict:
    import pandas as pd

    start = time.perf_counter()
    frame = pd.read_csv(path, sep="\t", dtype=str)
    return {"seconds": time.perf_counter() - start, "rows": len(frame)}


def _child_ingest(path: str, state: str) -> dict:
    import shutil

    from exporters.smmeplus.cli import Exporter

    inbox = Path(state) / "inbox"
    inbox.mkdir(parents=True)
    target = inbox / Path(path).name
    shutil.copy(path, target)
    exporter = Exporter(inbox, Path(state) / "state", settle_seconds=0)
    exporter.restore()
    start = time.perf_counter()
    outcome = exporter.source.ingest("swe", target, replay=False)  # parse, fold, publish
    ingest = time.perf_counter() - start
    start = time.perf_counter()
    records = exporter.scan()  # the whole inbox path: hash, ledger, ingest again, archive
    take = time.perf_counter() - start
    return {"seconds": ingest, "inbox_seconds": take, "rows": outcome.rows, "records": len(records)}


def child(argv: list[str]) -> int:
    what = argv[0]
    result = _child_baseline(argv[1]) if what == "baseline" else _child_ingest(argv[1], argv[2])
    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(result))
    return 0


def _run_child(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_ingest(workdir: Path, swe_rows: int, repeats: int) -> dict:
    from simulator import smmeplus as sim

    meters = max(1, swe_rows // 2)
    fleet = sim.build_fleet(meters, seed=42)
    day = sim.simulate_day(fleet, seed=42, date=DAY, swe_rows=swe_rows, hpe_rows=10)
    path = workdir / f"SWE_{DAY.isoformat()}.csv"
    day.swe.to_csv(path, sep="\t", index=False, lineterminator="\n")
    base, ours = [], []
    for i in range(repeats):
        base.append(_run_child("baseline", str(path)))
        ours.append(_run_child("ingest", str(path), str(workdir / f"run{i}")))
    b = statistics.median(r["seconds"] for r in base)
    o = statistics.median(r["seconds"] for r in ours)
    return {
        "rows": ours[0]["rows"],
        "file_bytes": path.stat().st_size,
        "baseline_seconds": b,
        "ingest_seconds": o,
        "inbox_seconds": statistics.median(r["inbox_seconds"] for r in ours),
        "ratio": o / b,
        "baseline_peak_rss": max(r["peak_rss_bytes"] for r in base),
        "ingest_peak_rss": max(r["peak_rss_bytes"] for r in ours),
    }


def _families_from_text(body: bytes):
    """The exposition's series as plain state (what a custom collector would hold)."""
    from prometheus_client.parser import text_string_to_metric_families

    state = []
    for family in text_string_to_metric_families(body.decode()):
        labelnames = sorted({k for s in family.samples for k in s.labels})
        rows = [(tuple(s.labels.get(k, "") for k in labelnames), s.value) for s in family.samples]
        state.append((family.name, family.type, family.documentation, labelnames, rows))
    return state


class PlainCollector:
    """The baseline: a prometheus_client custom Collector building the same families at scrape time."""

    def __init__(self, state) -> None:
        self.state = state

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        for name, kind, doc, labelnames, rows in self.state:
            cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            family = cls(name, doc, labels=labelnames)
            for labelvalues, value in rows:
                family.add_metric(list(labelvalues), value)
            yield family


def _scrape_times(url: str, n: int) -> list[float]:
    import httpx

    times = []
    with httpx.Client(headers={"Accept-Encoding": "identity"}, timeout=30) as client:
        client.get(url)
        for _ in range(n):
            start = time.perf_counter()
            response = client.get(url)
            response.raise_for_status()
            times.append(time.perf_counter() - start)
    return times


def bench_scrape(workdir: Path, target_series: int, scrapes: int) -> dict:
    from prometheus_client import CollectorRegistry, start_http_server

    from exporters.core.server import ExporterServer
    from exporters.smmeplus.cli import Exporter
    from simulator import smmeplus as sim

    out = workdir / "scrape"
    meters = max(1000, target_series * 2)
    sim.generate_day(out, meters=meters, seed=5, date=DAY, hpe_rows=meters // 5)
    exporter = Exporter(
        out, workdir / "scrape-state", out / "inventory", per_meter_series_limit=10**9, settle_seconds=0
    )
    exporter.restore()
    exporter.scan()
    # cap the per-meter family so the whole exposition holds the target number of series
    others = _series(exporter.exposition.body()) - _count(exporter.exposition.body())
    exporter.source.per_meter_series_limit = max(0, target_series - others)
    exporter.source.publish_meters(count_dropped=False)
    body = exporter.exposition.body()
    lines = [line for line in body.split(b"\n") if line and not line.startswith(b"#")]
    ours_server = ExporterServer(exporter.exposition, "127.0.0.1", 0, include_runtime_metrics=False).start()
    registry = CollectorRegistry()
    registry.register(PlainCollector(_families_from_text(body)))
    base_server, _thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        base_url = f"http://127.0.0.1:{base_server.server_port}/metrics"
        ours_url = f"http://127.0.0.1:{ours_server.port}/metrics"
        ours_t, base_t = [], []
        for _ in range(3):  # interleaved rounds
            ours_t += _scrape_times(ours_url, scrapes // 3)
            base_t += _scrape_times(base_url, scrapes // 3)
    finally:
        ours_server.stop()
        base_server.shutdown()
        exporter.inbox.ledger.close()
    o, b = statistics.median(ours_t), statistics.median(base_t)
    return {
        "series": len(lines),
        "body_bytes": len(body),
        "ours_ms": o * 1000,
        "ours_p99_ms": sorted(ours_t)[int(0.99 * (len(ours_t) - 1))] * 1000,
        "baseline_ms": b * 1000,
        "ratio": o / b,
    }


def _series(body: bytes) -> int:
    return sum(1 for line in body.split(b"\n") if line and not line.startswith(b"#"))


def _count(body: bytes) -> int:
    return sum(1 for line in body.split(b"\n") if line.startswith(b"smmc_meter_flag_active{"))


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--child":
        return child(argv[1:])
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--swe-rows", type=int, default=1_000_000)
    p.add_argument("--series", type=int, default=50_000)
    p.add_argument("--scrapes", type=int, default=45)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-smmeplus-") as tmp:
        ingest = bench_ingest(Path(tmp), args.swe_rows, args.repeats)
        scrape = bench_scrape(Path(tmp), args.series, args.scrapes)
    mib = 1024 * 1024
    print(json.dumps({"ingest": ingest, "scrape": scrape}, indent=2), file=sys.stderr)
    print(
        f"""### SWE ingest ({ingest["rows"]:,} rows, {ingest["file_bytes"] / mib:.0f} MiB, tab-separated)
| measurement | time (median of {args.repeats}) | peak RSS |
|---|---|---|
| baseline: `pandas.read_csv(path, sep="\\t", dtype=str)` | {ingest["baseline_seconds"]:.2f} s | \
{ingest["baseline_peak_rss"] / mib:.0f} MiB |
| exporter: parse, validate, fold, render (`SmmePlusSource.ingest`) | {ingest["ingest_seconds"]:.2f} s | \
{ingest["ingest_peak_rss"] / mib:.0f} MiB |
| exporter: whole inbox path (hash, ledger, ingest, archive) | {ingest["inbox_seconds"]:.2f} s | |

Ratio exporter / `read_csv`: **{ingest["ratio"]:.2f}x** (target: at most 3x).

### `/metrics` at {scrape["series"]:,} series ({scrape["body_bytes"] / mib:.1f} MiB)
| server | median scrape | p99 |
|---|---|---|
| exporter (pre-rendered at ingest) | {scrape["ours_ms"]:.1f} ms | {scrape["ours_p99_ms"]:.1f} ms |
| baseline: prometheus_client custom Collector, same series | {scrape["baseline_ms"]:.1f} ms | |

Ratio exporter / baseline: **{scrape["ratio"]:.3f}** (target: at most 50 ms per scrape).
"""
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
