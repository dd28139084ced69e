"""SMMePlus exporter benchmark, whole processes measured in the same run.

    .venv/bin/python bench/bench_smmeplus.py [--rows 100000,1000000,5000000] [--repeats 3]
        [--repeats-large 1] [--meters 400000] [--concentrators 10000] [--data-dir DIR] [--no-scrape]

For each SWE day size (one simulated fleet of 400,000 meters under 10,000 concentrators, seed 42), every
repetition runs back to back, each in a fresh process:
- baseline: `python -c 'pandas.read_csv(path, sep="\\t")'` (default engine), and with `engine="pyarrow"`;
- `smmc exporter smmeplus --once` on an inbox holding the file (start, catalogs, hash, ledger, parse,
  fold, render, print the exposition);
- time to visible: a running `smmc exporter smmeplus`; the file is renamed into its inbox (written first
  under a temporary name, as docs/ingest.md asks) and /metrics polled every 20 ms until
  `smmc_source_rows_total{kind="swe"}` shows every row. Twice: with the default --settle-seconds 2
  --scan-interval 2, and with --settle-seconds 0 --scan-interval 0.25 (a producer that renames).
Wall time by `time.perf_counter` around the child; CPU time and peak RSS from the child's own rusage
(`os.wait4`). Prints a Markdown section for docs/benchmarks.md (medians of the repetitions) and the raw
figures as JSON on stderr. The /metrics scrape comparison of the earlier benchmark follows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAY = dt.date(2021, 10, 7)
SEED = 42
ROOT = Path(__file__).resolve().parent.parent
SMMC = [sys.executable, "-c", "import sys; from smmc.cli import main; sys.exit(main(sys.argv[1:]))"]
MIB = 1024 * 1024


def swe_day(data_dir: Path, rows: int, meters: int, concentrators: int) -> Path:
    """The simulator's SWE file of `rows` rows for a fixed fleet (made once, kept in `data_dir`)."""
    path = data_dir / f"m{meters}-c{concentrators}-s{SEED}-r{rows}" / f"SWE_{DAY.isoformat()}.csv"
    if path.is_file():
        return path
    from simulator import smmeplus as sim

    fleet = sim.build_fleet(meters, seed=SEED, meters_per_concentrator=meters / concentrators)
    day = sim.simulate_day(fleet, seed=SEED, date=DAY, swe_rows=rows, hpe_rows=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    day.swe.to_csv(tmp, sep="\t", index=False, lineterminator="\n")
    tmp.rename(path)
    return path


# Runs one child and reports its wall time and rusage. A child's peak RSS counts the pages of the process
# it was forked from (Linux keeps the high-water mark across exec), so children are forked from this
# small launcher, never from the benchmark process (which holds the generated days).
LAUNCHER = """
import json, os, subprocess, sys, time
argv, quiet = json.loads(sys.argv[1]), sys.argv[2] == "1"
out = subprocess.DEVNULL if quiet else None
start = time.perf_counter()
proc = subprocess.Popen(argv, stdout=out, stderr=out)
_pid, status, usage = os.wait4(proc.pid, 0)
wall = time.perf_counter() - start
print(json.dumps({"seconds": wall, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                  "rss": usage.ru_maxrss * 1024, "exit": os.waitstatus_to_exitcode(status)}))
"""


def run(argv: list[str], quiet: bool = False) -> dict:
    """Run a child to completion: wall seconds, CPU seconds and peak RSS (bytes) of that child alone."""
    out = subprocess.run(
        [sys.executable, "-c", LAUNCHER, json.dumps(argv), "1" if quiet else "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result.pop("exit") != 0:
        raise RuntimeError(f"{argv[:4]} failed: {out.stderr[-2000:]}")
    return result


def read_csv(path: Path, engine: str | None) -> dict:
    option = f", engine={engine!r}" if engine else ""
    code = f"import pandas as pd; pd.read_csv({str(path)!r}, sep='\\t'{option})"
    return run([sys.executable, "-c", code])


def once(path: Path, work: Path) -> dict:
    inbox = work / "inbox"
    shutil.rmtree(work, ignore_errors=True)
    inbox.mkdir(parents=True)
    shutil.copy(path, inbox / path.name)
    argv = [*SMMC, "exporter", "smmeplus", "--once", "--inbox", str(inbox), "--state-dir", str(work / "s")]
    result = run(argv, quiet=True)
    shutil.rmtree(work, ignore_errors=True)
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str) -> tuple[int, bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def visible(path: Path, work: Path, rows: int, settle: float, scan: float) -> dict:
    """A running exporter: from the rename of the file into its inbox to /metrics counting every row."""
    inbox = work / "inbox"
    shutil.rmtree(work, ignore_errors=True)
    inbox.mkdir(parents=True)
    port = _free_port()
    argv = [
        *SMMC, "exporter", "smmeplus", "--inbox", str(inbox), "--state-dir", str(work / "s"),
        "--listen", f"127.0.0.1:{port}", "--settle-seconds", str(settle), "--scan-interval", str(scan),
        "--log-level", "WARNING",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wanted = re.compile(rb'^smmc_source_rows_total\{kind="swe"\} ' + str(rows).encode() + rb"$", re.M)
    try:
        deadline = time.monotonic() + 60
        while True:  # up and restored
            try:
                if _get(port, "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the exporter did not start")
            time.sleep(0.05)
        staged = inbox / f".{path.name}.part"
        shutil.copy(path, staged)
        os.sync()
        cpu_before = _cpu_seconds(proc.pid)
        os.rename(staged, inbox / path.name)
        landed = time.perf_counter()
        while not wanted.search(_get(port, "/metrics")[1]):
            if time.perf_counter() - landed > 600 or proc.poll() is not None:
                raise RuntimeError("the file never became visible")
            time.sleep(0.02)
        seconds = time.perf_counter() - landed
        cpu = _cpu_seconds(proc.pid) - cpu_before  # the exporter's CPU from landing to visible
        # the exporter's own peak RSS (its memory map's high-water mark, fresh since its exec)
        status = Path(f"/proc/{proc.pid}/status").read_text()
        rss = int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M).group(1)) * 1024
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    return {"seconds": seconds, "cpu_seconds": cpu, "rss": rss}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


MEASURES = ("read_csv", "read_csv_pyarrow", "once", "visible_default", "visible_rename")


def bench_size(path: Path, rows: int, work: Path, repeats: int) -> dict:
    runs: dict[str, list[dict]] = {m: [] for m in MEASURES}
    for _ in range(repeats):  # back to back, so the machine's load hits every measure alike
        runs["read_csv"].append(read_csv(path, None))
        runs["read_csv_pyarrow"].append(read_csv(path, "pyarrow"))
        runs["once"].append(once(path, work))
        runs["visible_default"].append(visible(path, work, rows, settle=2, scan=2))
        runs["visible_rename"].append(visible(path, work, rows, settle=0, scan=0.25))
    out: dict = {"rows": rows, "file_bytes": path.stat().st_size, "repeats": repeats, "runs": runs}
    for m, results in runs.items():
        out[m] = {k: statistics.median(r[k] for r in results) for k in results[0]}
    return out


def report(sizes: list[dict], meters: int, concentrators: int) -> str:
    def cell(z: dict, m: str) -> str:
        return f"{z[m]['seconds']:.2f} s ({z[m]['cpu_seconds']:.2f})"

    def ratio(z: dict, m: str) -> str:
        wall = z[m]["seconds"] / z["read_csv"]["seconds"]
        return f"**{wall:.2f}x** ({z[m]['cpu_seconds'] / z['read_csv']['cpu_seconds']:.2f}x)"

    lines = [
        f"### SWE ingest: whole processes ({meters:,} meters under {concentrators:,} concentrators, "
        "simulator seed 42)",
        "",
        "Wall time, median of the repetitions, with the CPU seconds in brackets; ratios to the "
        'default-engine `read_csv` process of the same repetitions, wall (CPU). "visible" is the running '
        "exporter's time from the file's rename into the inbox to `/metrics` counting every row; its CPU is "
        "the exporter's over that span.",
        "",
        "| rows (file, runs) | `read_csv` default | `read_csv` pyarrow | `--once` | `--once` / default "
        "(goal <= 1.5) | visible, settle 2 s, scan 2 s (defaults) | / default (goal <= 2) | visible, "
        "settle 0, scan 0.25 s | / default |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for z in sizes:
        lines.append(
            f"| {z['rows']:,} ({z['file_bytes'] / MIB:.0f} MiB, {z['repeats']}) | {cell(z, 'read_csv')} "
            f"| {cell(z, 'read_csv_pyarrow')} | {cell(z, 'once')} | {ratio(z, 'once')} "
            f"| {z['visible_default']['seconds']:.2f} s "
            f"| **{z['visible_default']['seconds'] / z['read_csv']['seconds']:.2f}x** "
            f"| {cell(z, 'visible_rename')} | {ratio(z, 'visible_rename')} |"
        )
    lines += [
        "",
        "Peak RSS (largest of the repetitions) and ratio to the default-engine `read_csv` (goal <= 1, and "
        "flat in the day's size):",
        "",
        "| rows | `read_csv` default | `read_csv` pyarrow | `--once` | `--once` / default | running "
        "exporter | exporter / default |",
        "|---|---|---|---|---|---|---|",
    ]
    for z in sizes:
        rss = {m: max(r["rss"] for r in z["runs"][m]) for m in MEASURES}
        exporter = max(rss["visible_default"], rss["visible_rename"])
        lines.append(
            f"| {z['rows']:,} | {rss['read_csv'] / MIB:.0f} MiB | {rss['read_csv_pyarrow'] / MIB:.0f} MiB "
            f"| {rss['once'] / MIB:.0f} MiB | **{rss['once'] / rss['read_csv']:.2f}x** "
            f"| {exporter / MIB:.0f} MiB | **{exporter / rss['read_csv']:.2f}x** |"
        )
    return "\n".join(lines) + "\n"


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

    meters = max(1000, target_series * 2)
    while True:  # a fleet large enough for the target (the simulator's ordinary day is calm)
        out, state = workdir / f"scrape-{meters}", workdir / f"scrape-state-{meters}"
        sim.generate_day(out, meters=meters, seed=5, date=DAY, hpe_rows=meters // 5)
        exporter = Exporter(out, state, out / "inventory", per_meter_series_limit=10**9, settle_seconds=0)
        exporter.restore()
        exporter.scan()
        if _series(exporter.exposition.body()) >= target_series or meters >= 2_000_000:
            break
        exporter.inbox.ledger.close()
        meters *= 4
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
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--rows", default="100000,1000000,5000000", help="SWE day sizes, comma-separated (empty: none)"
    )
    p.add_argument("--repeats", type=int, default=3, help="repetitions per size up to 1,000,000 rows")
    p.add_argument("--repeats-large", type=int, default=1, help="repetitions for larger days")
    p.add_argument("--meters", type=int, default=400_000)
    p.add_argument("--concentrators", type=int, default=10_000)
    p.add_argument("--data-dir", type=Path, default=None, help="keep the generated files here")
    p.add_argument("--series", type=int, default=50_000)
    p.add_argument("--scrapes", type=int, default=45)
    p.add_argument("--no-scrape", action="store_true", help="skip the /metrics scrape comparison")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-smmeplus-") as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        sizes = []
        for rows in (int(r) for r in args.rows.split(",") if r.strip()):
            path = swe_day(data_dir, rows, args.meters, args.concentrators)
            repeats = args.repeats if rows <= 1_000_000 else args.repeats_large
            sizes.append(bench_size(path, rows, Path(tmp) / "work", repeats))
            print(json.dumps(sizes[-1]), file=sys.stderr, flush=True)
        if sizes:
            print(report(sizes, args.meters, args.concentrators))
        if not args.no_scrape:
            scrape = bench_scrape(Path(tmp), args.series, args.scrapes)
            print(json.dumps(scrape), file=sys.stderr)
            print(
                f"""### `/metrics` at {scrape["series"]:,} series ({scrape["body_bytes"] / MIB:.1f} MiB)
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
