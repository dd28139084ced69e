"""The receiver's durable store: notifications, the action outbox, the append-only audit ledger.

One interface, two engines: SQLite (a file in WAL mode with synchronous=FULL, the default) and PostgreSQL
(by URL, through psycopg). Every method that writes runs in one transaction; `Store.transaction()`
hands out a `Tx` whose primitives the intake and the worker compose. The ledger table has database
triggers that refuse UPDATE and DELETE, so the audit trail cannot be rewritten, even by mistake.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_LOCK_KEY = 0x736D6D63  # "smmc": the advisory lock that serialises schema set-up (PostgreSQL)
OPEN_STATUSES = ("pending", "retry", "dispatching")
FINAL_STATUSES = ("succeeded", "failed", "dry_run", "suppressed", "rejected", "recorded")

ACTION_COLUMNS = (
    "id, idem_key, notification_id, receiver, fingerprint, starts_at, phase, alertname, rule, action, "
    "params, labels, annotations, correlation_key, storm_key, status, approval_required, approved_by, "
    "dry_run, attempts, next_attempt_at, lease_until, external_id, parent_id, last_error, created_at, "
    "updated_at, finished_at"
)
_JSON_COLUMNS = ("params", "labels", "annotations")


class StoreError(RuntimeError):
    """The store could not do what was asked (the receiver answers 503 and Alertmanager retries)."""


def _schema(id_type: str, real: str) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS notifications (
            id {id_type}, content_key TEXT NOT NULL UNIQUE, receiver TEXT NOT NULL,
            group_key TEXT NOT NULL, status TEXT NOT NULL, alert_count INTEGER NOT NULL,
            received_at {real} NOT NULL, body TEXT NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS actions (
            id {id_type}, idem_key TEXT NOT NULL UNIQUE, notification_id BIGINT, receiver TEXT NOT NULL,
            fingerprint TEXT NOT NULL, starts_at TEXT NOT NULL, phase TEXT NOT NULL, alertname TEXT NOT NULL,
            rule TEXT NOT NULL, action TEXT NOT NULL, params TEXT NOT NULL, labels TEXT NOT NULL,
            annotations TEXT NOT NULL, correlation_key TEXT NOT NULL, storm_key TEXT, status TEXT NOT NULL,
            approval_required INTEGER NOT NULL DEFAULT 0, approved_by TEXT,
            dry_run INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at {real} NOT NULL, lease_until {real},
            external_id TEXT, parent_id BIGINT, last_error TEXT, created_at {real} NOT NULL,
            updated_at {real} NOT NULL, finished_at {real})""",
        "CREATE INDEX IF NOT EXISTS actions_due ON actions (status, next_attempt_at)",
        "CREATE INDEX IF NOT EXISTS actions_corr ON actions (action, correlation_key, finished_at)",
        "CREATE INDEX IF NOT EXISTS actions_storm ON actions (storm_key, created_at)",
        "CREATE INDEX IF NOT EXISTS actions_done ON actions (action, status, finished_at)",
        f"""CREATE TABLE IF NOT EXISTS ledger (
            id {id_type}, ts {real} NOT NULL, action_id BIGINT, notification_id BIGINT,
            event TEXT NOT NULL, detail TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS ledger_action ON ledger (action_id)",
        f"""CREATE TABLE IF NOT EXISTS storms (
            id {id_type}, storm_key TEXT NOT NULL, action TEXT NOT NULL, opened_at {real} NOT NULL,
            last_at {real} NOT NULL, alert_count INTEGER NOT NULL, parent_action_id BIGINT)""",
        "CREATE INDEX IF NOT EXISTS storms_key ON storms (storm_key, last_at)",
        f"CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value {real} NOT NULL)",
    ]


@dataclass
class ActionRow:
    """One row of the outbox (the action's current state; its history is in the ledger)."""

    id: int
    idem_key: str
    notification_id: int | None
    receiver: str
    fingerprint: str
    starts_at: str
    phase: str
    alertname: str
    rule: str
    action: str
    params: dict[str, Any]
    labels: dict[str, str]
    annotations: dict[str, str]
    correlation_key: str
    storm_key: str | None
    status: str
    approval_required: bool
    approved_by: str | None
    dry_run: bool
    attempts: int
    next_attempt_at: float
    lease_until: float | None
    external_id: str | None
    parent_id: int | None
    last_error: str | None
    created_at: float
    updated_at: float
    finished_at: float | None

    @classmethod
    def from_db(cls, row: Sequence[Any]) -> ActionRow:
        names = [c.strip() for c in ACTION_COLUMNS.split(",")]
        values = dict(zip(names, row, strict=True))
        for col in _JSON_COLUMNS:
            values[col] = json.loads(values[col])
        values["approval_required"] = bool(values["approval_required"])
        values["dry_run"] = bool(values["dry_run"])
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Tx:
    """Primitives inside one open transaction. Placeholders are written `?` for both engines."""

    def __init__(self, store: Store, conn: Any) -> None:
        self._store = store
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(self._store.sql(sql), tuple(params))

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.execute(sql, params).fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.execute(sql, params).fetchall())

    def insert_returning_id(self, sql: str, params: Sequence[Any]) -> int | None:
        """Run an INSERT ... ON CONFLICT DO NOTHING RETURNING id; None when it conflicted."""
        row = self.one(sql + " RETURNING id", params)
        return None if row is None else int(row[0])

    def savepoint(self) -> Any:
        return self._savepoint()

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        self._conn.execute("SAVEPOINT intake_item")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK TO SAVEPOINT intake_item")
            self._conn.execute("RELEASE SAVEPOINT intake_item")
            raise
        self._conn.execute("RELEASE SAVEPOINT intake_item")

    def ledger(
        self,
        event: str,
        detail: dict[str, Any],
        now: float,
        action_id: int | None = None,
        notification_id: int | None = None,
    ) -> None:
        self.execute(
            "INSERT INTO ledger (ts, action_id, notification_id, event, detail) VALUES (?, ?, ?, ?, ?)",
            (now, action_id, notification_id, event, json.dumps(detail, sort_keys=True, default=str)),
        )

    def action(self, action_id: int, lock: bool = False) -> ActionRow | None:
        sql = f"SELECT {ACTION_COLUMNS} FROM actions WHERE id = ?"
        if lock and self._store.engine == "postgresql":
            sql += " FOR UPDATE"
        row = self.one(sql, (action_id,))
        return None if row is None else ActionRow.from_db(row)

    def set_state(self, key: str, value: float) -> None:
        self.execute(
            "INSERT INTO state (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def lock_key(self, key: str) -> None:
        """Serialise writers on one key (PostgreSQL with several receivers; SQLite is already serial)."""
        if self._store.engine == "postgresql":
            self.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (key,))


class Store(ABC):
    """Base: connection per thread, explicit BEGIN/COMMIT, schema creation."""

    engine = "abstract"

    def __init__(self) -> None:
        self._local = threading.local()
        self._all_conns: list[Any] = []
        self._lock = threading.Lock()

    # -- engine hooks -------------------------------------------------------------------------------
    @abstractmethod
    def _connect(self) -> Any:
        """A new DB-API connection of this engine."""

    def _begin_sql(self) -> str:
        return "BEGIN"

    def sql(self, text: str) -> str:
        return text

    @abstractmethod
    def _schema(self) -> list[str]:
        """The engine's CREATE statements, in order."""

    def _claim_lock_clause(self) -> str:
        return ""

    # -- common -------------------------------------------------------------------------------------
    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._all_conns.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        conn = self._conn()
        try:
            conn.execute(self._begin_sql())
        except Exception as exc:
            self._drop_conn()
            raise StoreError(f"cannot begin a transaction: {exc}") from exc
        try:
            yield Tx(self, conn)
        except BaseException:
            try:
                conn.execute("ROLLBACK")
            except Exception:
                self._drop_conn()
            raise
        try:
            conn.execute("COMMIT")
        except Exception as exc:
            try:
                conn.execute("ROLLBACK")
            except Exception:
                self._drop_conn()
            raise StoreError(f"commit failed: {exc}") from exc

    def _drop_conn(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with suppress(Exception):
                conn.close()

    def init_schema(self) -> None:
        with self.transaction() as tx:
            for stmt in self._schema():
                tx.execute(stmt)

    def close(self) -> None:
        with self._lock:
            for conn in self._all_conns:
                with suppress(Exception):
                    conn.close()
            self._all_conns.clear()
        self._local = threading.local()

    # -- reads used by the API and the metrics --------------------------------------------------------
    def ping(self) -> None:
        with self.transaction() as tx:
            tx.one("SELECT 1")

    def list_actions(
        self,
        status: str | None = None,
        action: str | None = None,
        alertname: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[ActionRow]:
        where, params = [], []
        for col, val in (("status", status), ("action", action), ("alertname", alertname)):
            if val:
                where.append(f"{col} = ?")
                params.append(val)
        sql = f"SELECT {ACTION_COLUMNS} FROM actions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id LIMIT ? OFFSET ?"
        with self.transaction() as tx:
            return [ActionRow.from_db(r) for r in tx.all(sql, [*params, limit, offset])]

    def get_action(self, action_id: int) -> ActionRow | None:
        with self.transaction() as tx:
            return tx.action(action_id)

    def ledger_for(self, action_id: int) -> list[dict[str, Any]]:
        with self.transaction() as tx:
            rows = tx.all(
                "SELECT id, ts, event, detail FROM ledger WHERE action_id = ? ORDER BY id", (action_id,)
            )
        return [{"id": r[0], "ts": r[1], "event": r[2], "detail": json.loads(r[3])} for r in rows]

    def ledger_all(self, limit: int = 1000, after_id: int = 0) -> list[dict[str, Any]]:
        with self.transaction() as tx:
            rows = tx.all(
                "SELECT id, ts, action_id, notification_id, event, detail FROM ledger WHERE id > ? "
                "ORDER BY id LIMIT ?",
                (after_id, limit),
            )
        return [
            {
                "id": r[0],
                "ts": r[1],
                "action_id": r[2],
                "notification_id": r[3],
                "event": r[4],
                "detail": json.loads(r[5]),
            }
            for r in rows
        ]

    def outbox_stats(self, now: float) -> dict[str, float]:
        placeholders = ", ".join("?" for _ in OPEN_STATUSES)
        with self.transaction() as tx:
            depth, oldest = tx.one(
                f"SELECT COUNT(*), MIN(created_at) FROM actions WHERE status IN ({placeholders})",
                OPEN_STATUSES,
            )
            (awaiting,) = tx.one("SELECT COUNT(*) FROM actions WHERE status = 'awaiting_approval'")
            last_ok = tx.one("SELECT value FROM state WHERE key = 'last_dispatch_success'")
            watchdog = tx.one("SELECT value FROM state WHERE key = 'watchdog_last_seen'")
        return {
            "depth": float(depth),
            "oldest_age": 0.0 if oldest is None else max(0.0, now - float(oldest)),
            "awaiting_approval": float(awaiting),
            "last_dispatch_success": 0.0 if last_ok is None else float(last_ok[0]),
            "watchdog_last_seen": 0.0 if watchdog is None else float(watchdog[0]),
        }

    def claim_due(self, now: float, lease_seconds: float, limit: int) -> list[ActionRow]:
        """Take up to `limit` due actions (or ones whose lease expired: their worker died) for dispatch."""
        lock = self._claim_lock_clause()
        with self.transaction() as tx:
            # separate index range scans (an OR here made SQLite sort every due row on each claim)
            rows = tx.all(
                f"SELECT id FROM actions WHERE status = 'dispatching' AND lease_until < ? LIMIT ?{lock}",
                (now, limit),
            )
            for status in ("retry", "pending"):
                if len(rows) < limit:
                    rows += tx.all(
                        f"SELECT id FROM actions WHERE status = ? AND next_attempt_at <= ? "
                        f"ORDER BY next_attempt_at LIMIT ?{lock}",
                        (status, now, limit - len(rows)),
                    )
            claimed = []
            for (action_id,) in rows:
                before = tx.action(action_id)
                assert before is not None
                tx.execute(
                    "UPDATE actions SET status = 'dispatching', lease_until = ?, attempts = attempts + 1, "
                    "updated_at = ? WHERE id = ?",
                    (now + lease_seconds, now, action_id),
                )
                event = "lease_expired_reclaimed" if before.status == "dispatching" else "dispatch_started"
                tx.ledger(event, {"attempt": before.attempts + 1}, now, action_id=action_id)
                after = tx.action(action_id)
                assert after is not None
                claimed.append(after)
        return claimed


class SQLiteStore(Store):
    """SQLite in WAL mode, synchronous=FULL: a commit is on disk before the receiver answers 200.

    `durable=False` (journal in memory, no fsync) exists only as the benchmark's baseline.
    """

    engine = "sqlite"

    def __init__(self, path: str | Path, durable: bool = True) -> None:
        super().__init__()
        self.path = str(path)
        self.durable = durable
        if self.path != ":memory:" and not self.path.startswith("file:"):
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)

    def _connect(self) -> sqlite3.Connection:
        uri = self.path.startswith("file:")
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30, uri=uri)
        if self.durable:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        else:
            conn.execute("PRAGMA journal_mode=MEMORY")
            conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def _begin_sql(self) -> str:
        return "BEGIN IMMEDIATE"

    def _schema(self) -> list[str]:
        return [
            *_schema("INTEGER PRIMARY KEY AUTOINCREMENT", "REAL"),
            """CREATE TRIGGER IF NOT EXISTS ledger_no_update BEFORE UPDATE ON ledger
               BEGIN SELECT RAISE(ABORT, 'the audit ledger is append-only'); END""",
            """CREATE TRIGGER IF NOT EXISTS ledger_no_delete BEFORE DELETE ON ledger
               BEGIN SELECT RAISE(ABORT, 'the audit ledger is append-only'); END""",
        ]


class PostgresStore(Store):
    """PostgreSQL through psycopg 3 (autocommit connection, explicit transactions)."""

    engine = "postgresql"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    def sql(self, text: str) -> str:
        return text.replace("%", "%%").replace("?", "%s")

    def _claim_lock_clause(self) -> str:
        return " FOR UPDATE SKIP LOCKED"

    def init_schema(self) -> None:
        # replicas that start together: CREATE ... IF NOT EXISTS races in PostgreSQL (a unique violation
        # on pg_type), so the schema is set up under a transaction-scoped advisory lock, one at a time
        with self.transaction() as tx:
            tx.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK_KEY,))
            for stmt in self._schema():
                tx.execute(stmt)

    def _schema(self) -> list[str]:
        return [
            *_schema("BIGSERIAL PRIMARY KEY", "DOUBLE PRECISION"),
            """CREATE OR REPLACE FUNCTION smmc_ledger_append_only() RETURNS trigger AS $$
               BEGIN RAISE EXCEPTION 'the audit ledger is append-only'; END $$ LANGUAGE plpgsql""",
            "DROP TRIGGER IF EXISTS ledger_append_only ON ledger",
            """CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger
               FOR EACH ROW EXECUTE FUNCTION smmc_ledger_append_only()""",
        ]


def open_store(url: str | None, default_path: str | Path = "data/receiver.db") -> Store:
    """`sqlite:///path`, a bare path, `postgresql://...`/`postgres://...`, or None for the default file."""
    if not url:
        store: Store = SQLiteStore(default_path)
    elif url.startswith(("postgresql://", "postgres://")):
        store = PostgresStore(url)
    elif url.startswith("sqlite+nosync:///"):
        # benchmark baseline only: journal in memory, no fsync; NOT durable
        store = SQLiteStore(url[len("sqlite+nosync:///") :], durable=False)
    elif url.startswith("sqlite:///"):
        store = SQLiteStore(url[len("sqlite:///") :])
    elif "://" in url:
        raise StoreError(f"unsupported database URL {url!r} (sqlite:///PATH or postgresql://...)")
    else:
        store = SQLiteStore(url)
    store.init_schema()
    return store
