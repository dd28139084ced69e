"""The receiver on PostgreSQL: webhook notifications accepted per second with durable commits, and the
outbox drain rate with one and with two replicas on the same database, against the receiver on SQLite
(the default store, durable) measured in the same run.

    .venv/bin/python bench/bench_receiver_postgres.py [--count 2000] [--concurrency 16] [--max-seconds 60]

PostgreSQL is Debian's server started for the run (tests/pg_server.py: a fresh cluster on a loopback
port, fsync on, synchronous_commit on: every answered 200 is on disk). The load generator, the receiver
processes and the fake SMMePlus are those of bench/bench_receiver.py.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench"), str(REPO / "tests")]

from bench_receiver import (  # noqa: E402
    arguments,
    depth,
    drain,
    fake_smmeplus_setup,
    free_port,
    intake,
    print_intake_table,
    receiver_args,
    start,
    stop,
)
from pg_server import postgres_server  # noqa: E402


def drain_replicas(
    db_url: str, config: Path, env: dict[str, str], expected: int, max_seconds: float, threads: int, n: int
) -> dict[str, float]:
    """`n` receivers with their workers on, one database: time until the outbox is empty."""
    ports = [free_port() for _ in range(n)]
    started = time.perf_counter()
    procs = []
    try:
        for port in ports:
            procs.append(
                start(
                    receiver_args(config, db_url, port, "--worker-threads", str(threads)),
                    env,
                    f"http://127.0.0.1:{port}/healthz",
                )
            )
        url = f"http://127.0.0.1:{ports[0]}"
        while depth(url) > 0 and time.perf_counter() - started < max_seconds:
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        remaining = depth(url)
    finally:
        for proc in procs:
            stop(proc)
    done = expected - remaining
    return {"actions": done, "expected": expected, "seconds": elapsed, "per_second": done / elapsed}


def main(argv: list[str] | None = None) -> int:
    args = arguments(__doc__, count=2000).parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="smmc-bench-pg-") as tmp, postgres_server() as pg:
        tmpdir = Path(tmp)
        with fake_smmeplus_setup(tmpdir, args.count + 50) as (env, config, bodies):
            run = (config, env, bodies, args.concurrency, args.max_seconds)
            sqlite = intake(f"sqlite:///{tmpdir / 'durable.db'}", *run)
            one_db, two_db = pg.create_database(), pg.create_database()
            pg_one = intake(one_db, *run)
            pg_two = intake(two_db, *run)
            limit = args.max_seconds * 3
            drained_sqlite = drain(
                f"sqlite:///{tmpdir / 'durable.db'}",
                config,
                env,
                int(sqlite["sent"]) + 50,
                limit,
                args.worker_threads,
            )
            drained_one = drain_replicas(
                one_db, config, env, int(pg_one["sent"]) + 50, limit, args.worker_threads, 1
            )
            drained_two = drain_replicas(
                two_db, config, env, int(pg_two["sent"]) + 50, limit, args.worker_threads, 2
            )
    print(
        f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}, count {args.count}, "
        f"concurrency {args.concurrency}, worker threads {args.worker_threads}"
    )
    print_intake_table(
        "intake (one receiver, worker off)",
        [
            ("baseline: SQLite WAL, synchronous=FULL", sqlite),
            ("PostgreSQL, fsync on (database 1)", pg_one),
            ("PostgreSQL, fsync on (database 2)", pg_two),
        ],
    )
    pg_rate = (pg_one["per_second"] + pg_two["per_second"]) / 2
    print(f"\nPostgreSQL / SQLite intake ratio: {pg_rate / sqlite['per_second']:.2f}")
    print("\n| outbox drain to the fake SMMePlus | actions | seconds (incl. start) | actions/s |")
    print("|---|---|---|---|")
    for name, r in (
        ("baseline: SQLite, one receiver", drained_sqlite),
        ("PostgreSQL, one replica", drained_one),
        ("PostgreSQL, two replicas", drained_two),
    ):
        print(
            f"| {name} | {r['actions']:.0f} of {r['expected']} | {r['seconds']:.2f} | {r['per_second']:.0f} |"
        )
    errors = sqlite["errors"] + pg_one["errors"] + pg_two["errors"]
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
