"""Inbox ingest: detect complete new files, ingest each once, set broken ones aside, survive restarts.

Convention for producers (documented in docs/ingest.md): write a file under a temporary name
(a leading dot, or a `.part`/`.tmp`/`.partial` suffix) and rename it into the inbox when complete.
Files written in place are accepted too, once their size and modification time have not changed for
`settle_seconds` and their last line is complete (ends with a line break). A file whose last line is
cut waits `incomplete_grace_seconds` from its last change for the rest, then is set aside whole
(`incomplete_last_line`): never ingested half.

Hostile or broken input never stops the inbox: only regular files are read (a symbolic link, FIFO,
device, socket or directory is set aside unread, its reason quoting nothing of what it points to); a
file above `max_file_bytes` or with a line above `max_line_bytes` is set aside before it is parsed
(memory stays bounded); any other error on one file sets that file aside with its reason and the scan
goes on. Names are escaped (control characters) in logs and reason files, and shortened (with a hash)
where the state directory's prefixes would make them too long for the file system. A scan that fails
is counted (`smmc_source_scan_failures_total`) and logged once per distinct error.

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
import stat as stat_
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from exporters.core.exposition import Exposition, MetricFamily, counter, gauge

log = logging.getLogger(__name__)

TEMPORARY_SUFFIXES = (".part", ".tmp", ".partial", ".swp", ".crdownload")
_MIN_WAIT = 0.1  # seconds between two looks at a file, at least
# ingesting takes about 8x the file in memory: 160 MiB -> about 1.3 GB, within the exporter's 2Gi limit
DEFAULT_MAX_FILE_BYTES = 160 * 1024 * 1024
DEFAULT_MAX_LINE_BYTES = 64 * 1024
DEFAULT_INCOMPLETE_GRACE_SECONDS = 300.0
NAME_MAX = 255  # bytes in one path component (ext4, xfs, tmpfs)
_REASON_SUFFIX = ".reason.txt"
INBOX_PART = "6_inbox"


def printable(text: str, limit: int = 300) -> str:
    """`text` for a log line or a reason file: control and undecodable characters escaped, bounded."""
    out = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text[:limit])
    return out + ("..." if len(text) > limit else "")


def fit_name(name: str, reserve: int = 0) -> str:
    """`name`, or its start plus a hash of the whole, so that it and `reserve` more bytes fit NAME_MAX."""
    raw = os.fsencode(name)
    if len(raw) + reserve <= NAME_MAX:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:12]
    suffix = Path(name).suffix if len(os.fsencode(Path(name).suffix)) <= 16 else ""
    keep = max(1, NAME_MAX - reserve - len(digest) - len(os.fsencode(suffix)) - 1)
    head = os.fsdecode(raw[:keep]).encode("utf-8", "surrogateescape")[:keep]
    return os.fsdecode(head) + "~" + digest + suffix


def _kind_of_entry(mode: int) -> str | None:
    """What a non-regular directory entry is (None for a regular file)."""
    for test, what in (
        (stat_.S_ISLNK, "a symbolic link"),
        (stat_.S_ISDIR, "a directory"),
        (stat_.S_ISFIFO, "a FIFO"),
        (stat_.S_ISSOCK, "a socket"),
        (stat_.S_ISCHR, "a character device"),
        (stat_.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return what
    return None if stat_.S_ISREG(mode) else "not a regular file"


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


@dataclass(frozen=True)
class Inspection:
    sha256: str
    size: int
    longest_line: int
    ends_with_newline: bool


def inspect_file(path: Path, max_bytes: int) -> Inspection:
    """One pass over a regular file, opened without following a symbolic link: its hash, size and
    longest line. Raises `FileRejected` for anything but a regular file, or one above `max_bytes`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (40, 6):  # ELOOP (a symbolic link), ENXIO (a FIFO nobody writes)
            raise FileRejected("not_a_regular_file", "not a regular file; not read") from None
        raise FileRejected("unreadable", f"cannot open: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        what = _kind_of_entry(info.st_mode)
        if what is not None:
            raise FileRejected("not_a_regular_file", f"{what}; not read")
        if info.st_size > max_bytes:
            raise FileRejected(
                "file_too_large", f"{info.st_size} bytes, above the limit of {max_bytes} (--max-file-bytes)"
            )
        digest = hashlib.sha256()
        size, last_newline, longest, tail = 0, -1, 0, b""
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
            breaks = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10) + size
            if breaks.size:
                longest = max(longest, int(breaks[0]) - last_newline - 1)
                if breaks.size > 1:
                    longest = max(longest, int(np.diff(breaks).max()) - 1)
                last_newline = int(breaks[-1])
            size += len(chunk)
            tail = (tail + chunk)[-2:]
            if size > max_bytes:  # grew while being read
                raise FileRejected("file_too_large", f"more than {max_bytes} bytes (--max-file-bytes)")
        longest = max(longest, size - last_newline - 1)
    # a line break ends the file: "\n", or "\n\0" / "\0\n" in UTF-16 (set aside later as unreadable)
    return Inspection(digest.hexdigest(), size, longest, tail.endswith(b"\n") or tail == b"\n\x00")


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
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        incomplete_grace_seconds: float = DEFAULT_INCOMPLETE_GRACE_SECONDS,
        exposition: Exposition | None = None,
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
        self.max_file_bytes = max_file_bytes
        self.max_line_bytes = max_line_bytes
        self.incomplete_grace_seconds = incomplete_grace_seconds if settle_seconds > 0 else 0.0
        self.exposition = exposition
        self.scan_failures: Counter[str] = Counter({"scan": 0, "file": 0})
        self.last_scan_success = 0.0
        self._stuck: dict[Path, tuple[int, int]] = {}  # files that could not even be set aside
        self._last_scan_error: str | None = None
        self._waiting_logged: set[Path] = set()
        self.publish()

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
            if name.startswith(".") or name.endswith(TEMPORARY_SUFFIXES) or name.endswith(_REASON_SUFFIX):
                continue
            if path == self.rejected_dir:
                continue
            try:
                stat = path.lstat()  # never follows a symbolic link
            except FileNotFoundError:
                continue
            signature = (stat.st_size, stat.st_mtime_ns)
            current[path] = signature
            if self._taken.get(path) == signature or self._stuck.get(path) == signature:
                continue
            if not stat_.S_ISREG(stat.st_mode):
                ready.append((stat.st_mtime_ns, name, path))  # set aside at once, unread
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
        """One pass over the inbox; returns what happened to each file it took. An error on one file
        sets that file aside and the pass goes on."""
        records = []
        for path in self._candidates():
            try:
                record = self._take(path)
            except Exception as exc:  # a bug or the file system: this file only
                record = self._after_error(path, exc)
            if record is None:
                continue
            records.append(record)
            if self.shared and path in self._seen:
                self._taken[path] = self._seen[path]
        self.last_records = records
        self.last_scan_success = time.time()
        self.publish()
        return records

    def _after_error(self, path: Path, exc: Exception) -> FileRecord | None:
        self.scan_failures["file"] += 1
        log.error(
            "%s: %s; setting it aside", printable(path.name), f"{type(exc).__name__}: {exc}", exc_info=exc
        )
        error = FileRejected("internal_error", f"{type(exc).__name__}: {printable(str(exc))}")
        try:
            return self._reject(path, "unknown", "", error)
        except Exception as again:
            # it cannot even be moved: leave it, and skip it until it changes
            self._stuck[path] = self._seen.get(path, (0, 0))
            log.error(
                "%s: cannot be set aside either (%s); skipped until it changes", printable(path.name), again
            )
            return None

    def _take(self, path: Path) -> FileRecord | None:
        try:
            what = _kind_of_entry(path.lstat().st_mode)
        except FileNotFoundError:  # taken away since the listing (by its producer): nothing to do
            return None
        if what is not None:  # not opened: a device or FIFO may block or act on open
            return self._reject(path, "unknown", "", FileRejected("not_a_regular_file", f"{what}; not read"))
        try:
            found = inspect_file(path, self.max_file_bytes)
        except FileRejected as exc:
            return self._reject(path, "unknown", "", exc)
        except OSError as exc:
            return self._reject(path, "unknown", "", FileRejected("unreadable", f"cannot read file: {exc}"))
        sha = found.sha256
        if found.size and not found.ends_with_newline:
            age = time.time() - path.lstat().st_mtime
            if age < self.incomplete_grace_seconds:
                if path not in self._waiting_logged:
                    self._waiting_logged.add(path)
                    log.info("%s: its last line is incomplete; waiting for the rest", printable(path.name))
                return None
            self._waiting_logged.discard(path)
            return self._reject(
                path,
                self._kind_or_unknown(path),
                sha,
                FileRejected(
                    "incomplete_last_line",
                    f"the last line has no line break {age:.0f}s after the last change: the file looks cut "
                    "(producers write under a temporary name and rename when complete)",
                ),
            )
        if found.longest_line > self.max_line_bytes:
            return self._reject(
                path,
                self._kind_or_unknown(path),
                sha,
                FileRejected(
                    "line_too_long",
                    f"a line of {found.longest_line} bytes, above the limit of {self.max_line_bytes} "
                    "(--max-line-bytes)",
                ),
            )
        if self.shared and self.ledger.is_known(sha):
            log.debug("%s: already taken by this reader of the shared inbox", printable(path.name))
            return FileRecord(name=path.name, kind="duplicate", status="duplicate")
        if self.ledger.is_ingested(sha):
            log.info("%s: identical to a file already ingested; not counted again", printable(path.name))
            record = FileRecord(name=path.name, kind="duplicate", status="duplicate")
            self._archive(path, "duplicate")
            return record
        try:
            kind = self.source.classify(path)
        except Exception as exc:
            kind = None
            log.warning("%s: classification failed: %s", printable(path.name), exc)
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
            log.exception("%s: ingest failed", printable(path.name))
            error = FileRejected("parse_error", f"{exc.__class__.__name__}: {exc}")
            return self._reject(path, kind, sha, error)
        rejected_rows = dict(outcome.rejected)
        record = FileRecord(path.name, kind, "ingested", rows=outcome.rows, rejected_rows=rejected_rows)
        target = self._processed_path(kind, path.name)
        self.ledger.record(sha, record, str(target), self.source.counter_state())
        self._archive(path, kind, target)
        log.info(
            "ingested %s (%s): %d rows, %d rejected",
            printable(path.name),
            kind,
            outcome.rows,
            sum(rejected_rows.values()),
        )
        return record

    def _kind_or_unknown(self, path: Path) -> str:
        try:
            return self.source.classify(path) or "unknown"
        except Exception:
            return "unknown"

    def _processed_path(self, kind: str, name: str) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        prefix = f"{stamp}_{time.monotonic_ns() % 10**9:09d}_"
        return self.processed_dir / kind / (prefix + fit_name(name, len(prefix)))

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
        base = fit_name(path.name, len(_REASON_SUFFIX) + 8)  # room for ".reason.txt" and a ".N" counter
        target = self.rejected_dir / base
        n = 1
        while os.path.lexists(target) or target.with_name(target.name + _REASON_SUFFIX).exists():
            target = self.rejected_dir / f"{Path(base).stem}.{n}{Path(base).suffix}"
            n += 1
        if self.shared:
            self.rejected_dir.mkdir(parents=True, exist_ok=True)
        else:
            os.replace(path, target)  # a rename: a link or FIFO moves as itself, unread
        reason_file = target.with_name(target.name + _REASON_SUFFIX)
        detail = printable(str(exc), 2000)
        reason_file.write_text(
            f"file: {printable(path.name)}\nkind: {kind}\nreason: {exc.reason}\n"
            f"detail: {detail}\nrejected_at: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n",
            encoding="utf-8",
        )
        record = FileRecord(name=path.name, kind=kind, status="rejected", reason=exc.reason, message=str(exc))
        self.ledger.record(sha or "-", record, str(target))
        self.files_rejected[kind] += 1
        self.source.on_files_rejected(self.files_rejected, kind)
        log.warning("rejected %s (%s): %s: %s", printable(path.name), kind, exc.reason, detail)
        return record

    def next_scan_in(self, interval: float) -> float:
        """Seconds to wait before the next scan: `interval`, or less when a file seen by this scan
        settles sooner (it is then taken as soon as it may be, not up to an interval later)."""
        if self._ready_at is None:
            return interval
        return min(interval, max(_MIN_WAIT, self._ready_at - time.time()))

    def health_families(self) -> list[MetricFamily]:
        failures = counter(
            "smmc_source_scan_failures_total",
            "Inbox scans that failed (stage=scan) and files whose handling failed unexpectedly and were "
            "set aside (stage=file).",
            ["stage"],
        )
        failures.add_many(((stage,), n) for stage, n in sorted(self.scan_failures.items()))
        last = gauge(
            "smmc_source_last_scan_success_timestamp_seconds",
            "When an inbox scan last completed, Unix seconds (0 before the first).",
        )
        last.add([], self.last_scan_success)
        return [failures, last]

    def publish(self) -> None:
        if self.exposition is not None:
            self.exposition.publish(INBOX_PART, self.health_families())

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
            except Exception as exc:
                self.scan_failed(exc, interval)
            else:
                if self._last_scan_error is not None:
                    log.info("inbox scans succeed again")
                self._last_scan_error = None
            stop.wait(self.next_scan_in(interval))

    def scan_failed(self, exc: Exception, interval: float) -> None:
        """Count a failed pass; log it once per distinct error."""
        self.scan_failures["scan"] += 1
        message = f"{type(exc).__name__}: {printable(str(exc))}"
        if message != self._last_scan_error:
            log.error(
                "inbox scan failed (retrying every %.0fs, logged once): %s", interval, message, exc_info=exc
            )
        self._last_scan_error = message
        self.publish()
