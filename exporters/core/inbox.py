"""Inbox ingest: detect complete new files, ingest each once, set broken ones aside, survive restarts.

Convention for producers (documented in docs/ingest.md): write a file under a temporary name
(a leading dot, or a `.part`/`.tmp`/`.partial` suffix) and rename it into the inbox when complete.
Files written in place are accepted too, once their size and modification time have not changed for
`settle_seconds`.

Every ingested file is recorded in a ledger (SQLite, in the state directory) by content hash, in the
same transaction as the source's cumulative counters, then moved to `processed/<kind>/`. After a
restart the counters come back from the ledger and the newest processed file of each kind is replayed
(state only, counters untouched), so nothing is counted twice and no state is lost. A file that
cannot be read is moved to `rejected/` beside a `<name>.reason.txt`.

A shared inbox (`shared=True`: several exporter shards read the same directory) is only read: an
ingested file is linked (or copied) into `processed/<kind>/` of this reader's state directory and left
in place, a rejected one is recorded with its reason in the state directory's `rejected/`, and a file
already taken (same name, size and mtime; or same content by the ledger) is not read again. Removing old
files from a shared inbox is the producer's or the operator's job.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

TEMPORARY_SUFFIXES = (".part", ".tmp", ".partial", ".swp", ".crdownload")
_MIN_WAIT = 0.1  # seconds between two looks at a file, at least


class FileRejected(Exception):
    """The whole file is unusable. `reason` is a short label value; the message explains it."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class IngestOutcome:
    rows: int
    rejected: Mapping[str, int] = field(default_factory=dict)


class InboxSource(Protocol):
    def classify(self, path: Path) -> str | None:
        """The file's kind, or None when it is not a file this source knows."""

    def ingest(self, kind: str, path: Path, *, replay: bool) -> IngestOutcome:
        """Parse the file and fold it into the state. With `replay` (after a restart) only the state
        is rebuilt: counters were already counted. Raises `FileRejected` for an unusable file."""

    def counter_state(self) -> dict[str, Any]:
        """The cumulative counters, JSON-serialisable, persisted with each ledger entry."""

    def restore_counter_state(self, state: dict[str, Any]) -> None: ...

    def on_files_rejected(self, counts: Mapping[str, int], kind: str | None) -> None:
        """The files set aside so far, by kind: after `kind` was set aside, or (kind None) as restored
        from the ledger at start-up."""


@dataclass
class FileRecord:
    name: str
    kind: str
    status: str  # ingested | rejected | duplicate
    rows: int = 0
    rejected_rows: Mapping[str, int] = field(default_factory=dict)
    reason: str = ""
    message: str = ""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Ledger:
    """Which files were ingested (by content hash) and the source's counters, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS files (
                id INTEGER PRIMARY KEY,
                sha256 TEXT NOT NULL,
                name TEXT NOT NULL,
                kind TEXT NOT NULL,
                status TEXT NOT NULL,
                rows INTEGER NOT NULL DEFAULT 0,
                rejected_rows TEXT NOT NULL DEFAULT '{}',
                reason TEXT NOT NULL DEFAULT '',
                stored_path TEXT NOT NULL DEFAULT '',
                ingested_at REAL NOT NULL
            );
            CREATE INDEX IF NOT EXISTS files_sha ON files(sha256, status);
            CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, state TEXT NOT NULL);
            """
        )
        self._lock = threading.Lock()

    def is_ingested(self, sha: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM files WHERE sha256 = ? AND status = 'ingested' LIMIT 1", (sha,)
            ).fetchone()
        return row is not None

    def is_known(self, sha: str) -> bool:
        """The content was ingested or rejected before."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM files WHERE sha256 = ? LIMIT 1", (sha,)).fetchone()
        return row is not None

    def record(
        self, sha: str, record: FileRecord, stored_path: str, counters: dict[str, Any] | None = None
    ) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO files (sha256, name, kind, status, rows, rejected_rows, reason, stored_path,"
                    " ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        sha,
                        record.name,
                        record.kind,
                        record.status,
                        record.rows,
                        json.dumps(dict(record.rejected_rows), sort_keys=True),
                        record.reason,
                        stored_path,
                        time.time(),
                    ),
                )
                if counters is not None:
                    self._db.execute(
                        "INSERT INTO counters (name, state) VALUES ('source', ?)"
                        " ON CONFLICT(name) DO UPDATE SET state = excluded.state",
                        (json.dumps(counters, separators=(",", ":")),),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def counters(self) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT state FROM counters WHERE name = 'source'").fetchone()
        return json.loads(row[0]) if row else None

    def rejected_files_by_kind(self) -> Counter[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, count(*) FROM files WHERE status = 'rejected' GROUP BY kind"
            ).fetchall()
        return Counter({kind: n for kind, n in rows})

    def newest_ingested(self) -> dict[str, str]:
        """kind -> stored path of its newest ingested file."""
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, stored_path FROM files WHERE status = 'ingested' AND id IN"
                " (SELECT max(id) FROM files WHERE status = 'ingested' GROUP BY kind)"
            ).fetchall()
        return {kind: path for kind, path in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()


class Inbox:
    """Watches `inbox_dir` by polling and feeds each complete new file to `source` exactly once."""

    def __init__(
        self,
        inbox_dir: Path,
        state_dir: Path,
        source: InboxSource,
        settle_seconds: float = 2.0,
        keep_processed: int = 3,
        shared: bool = False,
    ) -> None:
        self.inbox_dir = Path(inbox_dir)
        self.state_dir = Path(state_dir)
        self.shared = shared
        self.rejected_dir = (self.state_dir if shared else self.inbox_dir) / "rejected"
        self.processed_dir = self.state_dir / "processed"
        self.source = source
        self.settle_seconds = settle_seconds
        self.keep_processed = keep_processed
        self.inbox_dir.mkdir(parents=True, exist_ok=True)
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(self.state_dir / "ledger.sqlite")
        self.files_rejected: Counter[str] = self.ledger.rejected_files_by_kind()
        self._seen: dict[Path, tuple[int, int]] = {}
        # when the earliest file seen but not yet settled can be taken (time.time()); None: no such file
        self._ready_at: float | None = None
        self._taken: dict[Path, tuple[int, int]] = {}  # shared inbox: files already read, by signature
        self.last_records: list[FileRecord] = []

    # -- start-up -------------------------------------------------------------------------------
    def restore(self) -> list[str]:
        """Counters from the ledger, then the newest processed file of each kind replayed."""
        counters = self.ledger.counters()
        if counters is not None:
            self.source.restore_counter_state(counters)
        self.source.on_files_rejected(self.files_rejected, None)
        replayed = []
        for kind, stored in sorted(self.ledger.newest_ingested().items()):
            path = Path(stored)
            if not path.is_file():
                log.warning("cannot replay %s file %s: it is gone from the state directory", kind, path)
                continue
            try:
                self.source.ingest(kind, path, replay=True)
                replayed.append(kind)
            except Exception as exc:
                log.error("replay of %s file %s failed: %s", kind, path, exc)
        return replayed

    # -- scanning -------------------------------------------------------------------------------
    def _candidates(self) -> list[Path]:
        now = time.time()
        ready: list[tuple[int, str, Path]] = []
        current: dict[Path, tuple[int, int]] = {}
        waiting: list[float] = []
        for path in self.inbox_dir.iterdir():
            name = path.name
            if not path.is_file() or name.startswith(".") or name.endswith(TEMPORARY_SUFFIXES):
                continue
            if name.endswith(".reason.txt"):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            signature = (stat.st_size, stat.st_mtime_ns)
            current[path] = signature
            if self._taken.get(path) == signature:
                continue
            settled = now - stat.st_mtime >= self.settle_seconds
            unchanged = self.settle_seconds <= 0 or self._seen.get(path) == signature
            if settled and unchanged:
                ready.append((stat.st_mtime_ns, name, path))
            else:  # takeable at the next look once settled, if it does not change meanwhile
                waiting.append(stat.st_mtime + self.settle_seconds)
        self._seen = current
        self._ready_at = min(waiting) if waiting else None
        if self.shared:
            self._taken = {p: sig for p, sig in self._taken.items() if p in current}
        return [p for _m, _n, p in sorted(ready)]

    def scan(self) -> list[FileRecord]:
        """One pass over the inbox; returns what happened to each file it took."""
        records = []
        for path in self._candidates():
            records.append(self._take(path))
            if self.shared and path in self._seen:
                self._taken[path] = self._seen[path]
        self.last_records = records
        return records

    def _take(self, path: Path) -> FileRecord:
        try:
            sha = sha256_of(path)
        except OSError as exc:
            return self._reject(path, "unknown", "", FileRejected("unreadable", f"cannot read file: {exc}"))
        if self.shared and self.ledger.is_known(sha):
            log.debug("%s: already taken by this reader of the shared inbox", path.name)
            return FileRecord(name=path.name, kind="duplicate", status="duplicate")
        if self.ledger.is_ingested(sha):
            log.info("%s: identical to a file already ingested; not counted again", path.name)
            record = FileRecord(name=path.name, kind="duplicate", status="duplicate")
            self._archive(path, "duplicate")
            return record
        try:
            kind = self.source.classify(path)
        except Exception as exc:
            kind = None
            log.warning("%s: classification failed: %s", path.name, exc)
        if kind is None:
            return self._reject(
                path,
                "unknown",
                sha,
                FileRejected("unrecognised", "neither its name nor its header is a known kind"),
            )
        try:
            outcome = self.source.ingest(kind, path, replay=False)
        except FileRejected as exc:
            return self._reject(path, kind, sha, exc)
        except Exception as exc:  # an exporter never dies of its input
            log.exception("%s: ingest failed", path.name)
            error = FileRejected("parse_error", f"{exc.__class__.__name__}: {exc}")
            return self._reject(path, kind, sha, error)
        rejected_rows = dict(outcome.rejected)
        record = FileRecord(path.name, kind, "ingested", rows=outcome.rows, rejected_rows=rejected_rows)
        target = self._processed_path(kind, path.name)
        self.ledger.record(sha, record, str(target), self.source.counter_state())
        self._archive(path, kind, target)
        log.info(
            "ingested %s (%s): %d rows, %d rejected",
            path.name,
            kind,
            outcome.rows,
            sum(rejected_rows.values()),
        )
        return record

    def _processed_path(self, kind: str, name: str) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        return self.processed_dir / kind / f"{stamp}_{time.monotonic_ns() % 10**9:09d}_{name}"

    def _archive(self, path: Path, kind: str, target: Path | None = None) -> None:
        target = target or self._processed_path(kind, path.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.shared:
            try:
                os.link(path, target)  # the shared file stays; a hard link costs no copy
            except OSError:
                shutil.copy2(path, target)
        else:
            shutil.move(str(path), target)
        kept = sorted(target.parent.iterdir())
        for old in kept[: max(0, len(kept) - self.keep_processed)]:
            old.unlink(missing_ok=True)

    def _reject(self, path: Path, kind: str, sha: str, exc: FileRejected) -> FileRecord:
        target = self.rejected_dir / path.name
        n = 1
        while target.exists() or target.with_name(target.name + ".reason.txt").exists():
            target = self.rejected_dir / f"{path.stem}.{n}{path.suffix}"
            n += 1
        if self.shared:
            self.rejected_dir.mkdir(parents=True, exist_ok=True)
        else:
            shutil.move(str(path), target)
        reason_file = target.with_name(target.name + ".reason.txt")
        reason_file.write_text(
            f"file: {path.name}\nkind: {kind}\nreason: {exc.reason}\n"
            f"detail: {exc}\nrejected_at: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n",
            encoding="utf-8",
        )
        record = FileRecord(name=path.name, kind=kind, status="rejected", reason=exc.reason, message=str(exc))
        self.ledger.record(sha or "-", record, str(target))
        self.files_rejected[kind] += 1
        self.source.on_files_rejected(self.files_rejected, kind)
        log.warning("rejected %s (%s): %s: %s", path.name, kind, exc.reason, exc)
        return record

    def next_scan_in(self, interval: float) -> float:
        """Seconds to wait before the next scan: `interval`, or less when a file seen by this scan
        settles sooner (it is then taken as soon as it may be, not up to an interval later)."""
        if self._ready_at is None:
            return interval
        return min(interval, max(_MIN_WAIT, self._ready_at - time.time()))

    def run(
        self, stop: threading.Event, interval: float = 2.0, scan: Callable[[], object] | None = None
    ) -> None:
        """Scan every `interval` seconds (sooner when a file seen settles sooner) until `stop`; `scan`
        replaces `self.scan` for a source that does more around each pass (e.g. reloading its inventory
        first). A failing pass is logged, never fatal."""
        step = scan or self.scan
        while not stop.is_set():
            try:
                step()
            except Exception:
                log.exception("inbox scan failed; retrying in %.0fs", interval)
            stop.wait(self.next_scan_in(interval))
