"""SMMePlus exporter sharding: series, exposition size, ingest time and peak memory per shard, against
the unsharded exporter on the same simulated inbox, in the same run.

    .venv/bin/python bench/bench_shard.py [--meters 100000] [--shards 4] [--seed 42]

The simulator writes one day of every file kind (and the inventory) for `--meters` meters; the unsharded
exporter and then each of the `--shards` shards read it as a shared inbox, each in a fresh child process
(its peak RSS is its own). "ingest" is restore + one scan (every file parsed, folded, rendered).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def run_one(inbox: str, inventory: str, state: str, shard: str, limit: int, out: mp.Queue) -> None:
    from exporters.smmeplus.cli import Exporter
    from exporters.smmeplus.shard import Shard

    t0 = time.perf_counter()
    exporter = Exporter(
        Path(inbox),
        Path(state),
        Path(inventory),
        per_meter_series_limit=limit,
        settle_seconds=0,
        shard=Shard.parse(shard),
        shared_inbox=True,
    )
    exporter.restore()
    exporter.scan()
    seconds = time.perf_counter() - t0
    body = exporter.exposition.body()
    lines = [ln for ln in body.split(b"\n") if ln and not ln.startswith(b"#")]
    concentrators = {
        ln.split(b'concentrator="', 1)[1].split(b'"', 1)[0] for ln in lines if b'concentrator="' in ln
    }
    exporter.inbox.ledger.close()
    out.put(
        {
            "shard": shard or "whole",
            "series": len(lines),
            "bytes": len(body),
            "concentrators": len(concentrators),
            "seconds": seconds,
            "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


def measure(inbox: Path, inventory: Path, state: Path, shard: str, limit: int) -> dict:
    queue: mp.Queue = mp.Queue()
    proc = mp.get_context("fork").Process(
        target=run_one, args=(str(inbox), str(inventory), str(state), shard, limit, queue)
    )
    proc.start()
    result = queue.get(timeout=1800)
    proc.join()
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--meters", type=int, default=100_000)
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--per-meter-series-limit",
        type=int,
        default=10**7,
        help="high by default, so every instance exposes all its per-meter series and the counts compare",
    )
    args = p.parse_args(argv)
    from simulator import smmeplus as sim

    with tempfile.TemporaryDirectory(prefix="smmc-bench-shard-") as tmp:
        base = Path(tmp)
        t0 = time.perf_counter()
        sim.generate_day(base / "inbox", meters=args.meters, seed=args.seed, date=dt.date(2021, 10, 7))
        inventory = base / "inbox" / "inventory"
        (base / "inventory").mkdir()
        for f in inventory.iterdir():
            f.rename(base / "inventory" / f.name)
        inventory.rmdir()
        print(f"simulated {args.meters:,} meters in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        whole = measure(
            base / "inbox", base / "inventory", base / "state-whole", "", args.per_meter_series_limit
        )
        shards = [
            measure(
                base / "inbox",
                base / "inventory",
                base / f"state-{i}",
                f"{i}/{args.shards}",
                args.per_meter_series_limit,
            )
            for i in range(args.shards)
        ]
    print("| instance | series | exposition | concentrators | ingest | peak RSS |")
    print("|---|---|---|---|---|---|")
    for r in [whole, *shards]:
        print(
            f"| {r['shard']} | {r['series']:,} | {r['bytes'] / 2**20:.1f} MiB | {r['concentrators']:,} | "
            f"{r['seconds']:.2f} s | {r['rss_mib']:.0f} MiB |"
        )
    total = sum(r["series"] for r in shards)
    biggest = max(shards, key=lambda r: r["series"])
    print()
    print(f"sum of shard series / unsharded: {total / whole['series']:.3f}")
    print(f"largest shard / unsharded series: {biggest['series'] / whole['series']:.3f}")
    mean = sum(r["seconds"] for r in shards) / len(shards)
    print(f"mean shard ingest / unsharded ingest: {mean / whole['seconds']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
