"""Receiver throughput: webhook notifications accepted per second with durable commits, and the outbox
drain rate, over real HTTP on loopback.

    .venv/bin/python bench/bench_receiver.py [--count 3000] [--concurrency 16] [--max-seconds 60]

Processes: the receiver (`smmc receiver`, uvicorn, one process) and the fake SMMePlus (`smmc fake
smmeplus`) are subprocesses; this script is the load generator (asyncio keep-alive HTTP/1.1, bounded
concurrency, bounded count and time). Each notification carries one firing remote-command alert for a distinct
concentrator, so each implies one outbox action.

1. Intake, durable: SQLite in WAL mode with synchronous=FULL (every answered 200 is on disk), worker off.
2. Intake, baseline: the same receiver on `sqlite+nosync://` (journal in memory, no fsync), same run.
3. Drain: the receiver restarted on the durable database with its worker on; time until the outbox depth
   (from /metrics) is 0, dispatching every action to the fake SMMePlus over HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.receiver_stack import alert, config_data, notification  # noqa: E402

TOKEN = "bench-receiver-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str], env: dict[str, str], ready_url: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "smmc.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(ready_url, timeout=1).status_code < 500:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{args[0]} did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def payloads(count: int) -> list[bytes]:
    out = []
    for i in range(count):
        a = alert(
            "BenchConcentratorClockDrift",
            severity="warning",
            maintenance="remote",
            team="metering",
            command="time_sync",
            concentrator=f"CIR{i:08d}",
        )
        out.append(json.dumps(notification("smmc-actions", [a])).encode())
    return out


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes) -> int:
    writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
    await writer.drain()
    status_line = await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    answer = await reader.readexactly(length)
    status = int(status_line.split()[1])
    if status == 200 and b'"accepted"' not in answer:
        return 0
    return status


async def load(url: str, bodies: list[bytes], concurrency: int, max_seconds: float) -> dict[str, float]:
    """A lean HTTP/1.1 keep-alive client (asyncio streams): the load generator shares the 2 cores with the
    receiver, so it must cost little per request. Checks every answer is 200 "accepted"."""
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST /webhook/smmc-actions HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    ).encode()
    latencies: list[float] = []
    errors = 0
    pending = list(reversed(bodies))
    deadline = time.perf_counter() + max_seconds

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while pending and time.perf_counter() < deadline:
                body = pending.pop()
                t0 = time.perf_counter()
                status = await _post(reader, writer, head, body)
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    n = len(latencies)
    return {
        "sent": n,
        "errors": errors,
        "seconds": elapsed,
        "per_second": n / elapsed,
        "p50_ms": latencies[n // 2] * 1000,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000,
    }


def receiver_args(config: Path, db_url: str, port: int, *options: str) -> list[str]:
    """`smmc receiver` on 127.0.0.1:`port` with `options`, logging warnings only."""
    return [
        *("receiver", "--config", str(config), "--db", db_url, "--listen", f"127.0.0.1:{port}"),
        *options,
        *("--log-level", "warning"),
    ]


def arguments(description: str | None, count: int) -> argparse.ArgumentParser:
    """The options every receiver benchmark takes."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=count)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-seconds", type=float, default=60)
    parser.add_argument("--worker-threads", type=int, default=4, help="the receiver's dispatch threads")
    return parser


def intake(
    db_url: str, config: Path, env: dict[str, str], bodies: list[bytes], concurrency: int, max_seconds: float
) -> dict[str, float]:
    port = free_port()
    proc = start(receiver_args(config, db_url, port, "--no-worker"), env, f"http://127.0.0.1:{port}/healthz")
    try:
        url = f"http://127.0.0.1:{port}"
        asyncio.run(load(url, bodies[:50], 4, 30))  # warm-up (its actions stay in the outbox too)
        return asyncio.run(load(url, bodies[50:], concurrency, max_seconds))
    finally:
        stop(proc)


def depth(url: str) -> float:
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        if line.startswith("smmc_receiver_outbox_depth "):
            return float(line.split()[1])
    raise RuntimeError("no outbox depth metric")


def drain(
    db_url: str, config: Path, env: dict[str, str], expected: int, max_seconds: float, threads: int
) -> dict[str, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    proc = start(receiver_args(config, db_url, port, "--worker-threads", str(threads)), env, url + "/healthz")
    try:
        initial = depth(url)
        while depth(url) > 0 and time.perf_counter() - started < max_seconds:
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        remaining = depth(url)
    finally:
        stop(proc)
    done = expected - remaining
    return {
        "actions": done,
        "expected": expected,
        "initial_depth": initial,
        "seconds": elapsed,
        "per_second": done / elapsed,
    }


@contextlib.contextmanager
def fake_smmeplus_setup(
    tmpdir: Path, notifications: int
) -> Iterator[tuple[dict[str, str], Path, list[bytes]]]:
    """The fake SMMePlus as a subprocess, an action map pointing at it (no hourly cap), and the payloads:
    yields (env, actions.yml path, bodies); the fake is stopped on exit."""
    smm_port = free_port()
    env = {
        **os.environ,
        "SMMC_RECEIVER_TOKEN": TOKEN,
        "SMMC_TEST_SMMEPLUS_TOKEN": "bench-smm",
        "SMMC_FAKE_SMMEPLUS_TOKEN": "bench-smm",
        "SMMC_TEST_JIRA_TOKEN": "unused",
    }
    fake = start(
        ["fake", "smmeplus", "--listen", f"127.0.0.1:{smm_port}"],
        env,
        f"http://127.0.0.1:{smm_port}/api/v1/commands/none",
    )
    try:
        data = config_data(
            "http://127.0.0.1:9",
            f"http://127.0.0.1:{smm_port}",
            {"action_types.smmeplus_command.max_per_hour": 10**9, "worker.poll_interval_seconds": 0.2},
        )
        config = tmpdir / "actions.yml"
        config.write_text(yaml.safe_dump(data))
        yield env, config, payloads(notifications)
    finally:
        stop(fake)


def print_intake_table(title: str, rows: list[tuple[str, dict[str, float]]]) -> None:
    print(f"| {title} | notifications | seconds | per second | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(
            f"| {name} | {r['sent']:.0f} | {r['seconds']:.2f} | {r['per_second']:.0f} | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['errors']:.0f} |"
        )


def main(argv: list[str] | None = None) -> int:
    args = arguments(__doc__, count=3000).parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="smmc-bench-") as tmp:
        tmpdir = Path(tmp)
        with fake_smmeplus_setup(tmpdir, args.count + 50) as (env, config, bodies):
            durable = intake(
                f"sqlite:///{tmpdir / 'durable.db'}", config, env, bodies, args.concurrency, args.max_seconds
            )
            baseline = intake(
                f"sqlite+nosync:///{tmpdir / 'baseline.db'}",
                config,
                env,
                bodies,
                args.concurrency,
                args.max_seconds,
            )
            drained = drain(
                f"sqlite:///{tmpdir / 'durable.db'}",
                config,
                env,
                int(durable["sent"]) + 50,
                args.max_seconds * 3,
                args.worker_threads,
            )
    print(
        f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}, count {args.count}, "
        f"concurrency {args.concurrency}, worker threads {args.worker_threads}"
    )
    print_intake_table(
        "measurement",
        [
            ("intake, durable (SQLite WAL, synchronous=FULL)", durable),
            ("intake, baseline (SQLite, no journal on disk, no fsync)", baseline),
        ],
    )
    print(f"\ndurable / baseline throughput ratio: {durable['per_second'] / baseline['per_second']:.2f}")
    print(
        f"outbox drain: {drained['actions']:.0f} of {drained['expected']} actions to the fake SMMePlus in "
        f"{drained['seconds']:.2f} s (including receiver start) = {drained['per_second']:.0f} actions/s"
    )
    return 0 if durable["errors"] == 0 and baseline["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
