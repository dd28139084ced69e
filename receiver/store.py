"""The receiver's durable store: notifications, the action outbox, the append-only audit ledger.

One interface, two engines: SQLite (a file in WAL mode with synchronous=FULL, the default) and PostgreSQL
(by URL, through psycopg). Every SQL statement of the receiver is here, behind a named method: reads that
stand alone are methods of `Store`; steps that must commit together are methods of the `Tx` that
`Store.transaction()` hands out, which the intake, the worker and the API compose. The ledger table has
database triggers that refuse UPDATE and DELETE, so the audit trail cannot be rewritten, even by mistake.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

SCHEMA_LOCK_KEY = 0x736D6D63  # "smmc": the advisory lock that serialises schema set-up (PostgreSQL)
OPEN_STATUSES = ("pending", "retry", "dispatching")
FINAL_STATUSES = ("succeeded", "failed", "dry_run", "suppressed", "rejected", "recorded")
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


@dataclass(frozen=True)
class PlannedAction:
    """An action the intake decided on, before it is written to the outbox."""

    idem_key: str
    receiver: str
    fingerprint: str
    starts_at: str
    phase: str  # fire | resolve | notify | storm
    alertname: str
    rule: str
    action: str
    params: dict[str, Any]
    labels: dict[str, str]
    annotations: dict[str, str]
    correlation_key: str
    storm_key: str | None
    status: str  # pending | awaiting_approval | recorded
    approval_required: bool
    dry_run: bool


@dataclass(frozen=True)
class ActionRow(PlannedAction):
    """One row of the outbox (the action's current state; its history is in the ledger)."""

    id: int
    notification_id: int | None
    approved_by: str | None
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
        values = dict(zip(ACTION_COLUMNS, row, strict=True))
        for col in _JSON_COLUMNS:
            values[col] = json.loads(values[col])
        values["approval_required"] = bool(values["approval_required"])
        values["dry_run"] = bool(values["dry_run"])
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, **self.__dict__}


ACTION_COLUMNS = tuple(f.name for f in fields(ActionRow))
_SELECT_ACTION = f"SELECT {', '.join(ACTION_COLUMNS)} FROM actions"


class Tx:
    """The steps of one open transaction. Placeholders are written `?` for both engines."""

    def __init__(self, store: Store, conn: Any) -> None:
        self._store = store
        self._conn = conn

    # -- primitives (this module's own) ----------------------------------------------------------------
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(self._store.sql(sql), tuple(params))

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._execute(sql, params).fetchone()

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self._execute(sql, params).fetchall())

    def _insert_returning_id(self, sql: str, params: Sequence[Any]) -> int | None:
        """Run an INSERT ... ON CONFLICT DO NOTHING RETURNING id; None when it conflicted."""
        row = self._one(sql + " RETURNING id", params)
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

    def lock_key(self, key: str) -> None:
        """Serialise writers on one key (PostgreSQL with several receivers; SQLite is already serial)."""
        if self._store.engine == "postgresql":
            self._execute("SELECT pg_advisory_xact_lock(hashtext(?))", (key,))

    # -- ledger and state ------------------------------------------------------------------------------
    def ledger(
        self,
        event: str,
        detail: dict[str, Any],
        now: float,
        action_id: int | None = None,
        notification_id: int | None = None,
    ) -> None:
        self._execute(
            "INSERT INTO ledger (ts, action_id, notification_id, event, detail) VALUES (?, ?, ?, ?, ?)",
            (now, action_id, notification_id, event, json.dumps(detail, sort_keys=True, default=str)),
        )

    def set_state(self, key: str, value: float) -> None:
        self._execute(
            "INSERT INTO state (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- notifications ---------------------------------------------------------------------------------
    def insert_notification(
        self, content_key: str, receiver: str, group_key: str, status: str, alerts: int, now: float, body: str
    ) -> int | None:
        """The notification's id, or None when one with the same content is stored already."""
        return self._insert_returning_id(
            "INSERT INTO notifications (content_key, receiver, group_key, status, alert_count, received_at, "
            "body) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (content_key) DO NOTHING",
            (content_key, receiver, group_key, status, alerts, now, body),
        )

    # -- actions ---------------------------------------------------------------------------------------
    def action(self, action_id: int, lock: bool = False) -> ActionRow | None:
        sql = f"{_SELECT_ACTION} WHERE id = ?"
        if lock and self._store.engine == "postgresql":
            sql += " FOR UPDATE"
        row = self._one(sql, (action_id,))
        return None if row is None else ActionRow.from_db(row)

    def action_by_key(self, idem_key: str) -> ActionRow | None:
        row = self._one(f"{_SELECT_ACTION} WHERE idem_key = ?", (idem_key,))
        return None if row is None else ActionRow.from_db(row)

    def action_exists(self, idem_key: str) -> bool:
        return self._one("SELECT id FROM actions WHERE idem_key = ?", (idem_key,)) is not None

    def insert_action(
        self,
        planned: PlannedAction,
        notification_id: int | None,
        now: float,
        status: str,
        parent_id: int | None = None,
    ) -> int | None:
        """Write a planned action with `status`; None when an action with its key exists already."""
        values: dict[str, Any] = {f.name: getattr(planned, f.name) for f in fields(PlannedAction)}
        for col in _JSON_COLUMNS:
            values[col] = json.dumps(values[col], sort_keys=True)
        values.update(
            status=status,
            approval_required=int(planned.approval_required),
            dry_run=int(planned.dry_run),
            notification_id=notification_id,
            attempts=0,
            next_attempt_at=now,
            parent_id=parent_id,
            created_at=now,
            updated_at=now,
            finished_at=now if status in ("recorded", "suppressed") else None,
        )
        return self._insert_returning_id(
            f"INSERT INTO actions ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)}) "
            "ON CONFLICT (idem_key) DO NOTHING",
            list(values.values()),
        )

    def suppress(self, action_id: int, now: float, parent_id: int | None = None) -> None:
        """Close an action without dispatching it (a storm's parent, when given, stands for it)."""
        self._execute(
            "UPDATE actions SET status = 'suppressed', parent_id = COALESCE(?, parent_id), updated_at = ?, "
            "finished_at = ? WHERE id = ?",
            (parent_id, now, now, action_id),
        )

    def is_claimed(self, action: ActionRow) -> bool:
        """The action is still in the dispatch (and the attempt) that `action` was claimed for."""
        row = self._one("SELECT status, attempts FROM actions WHERE id = ?", (action.id,))
        return row is not None and row[0] == "dispatching" and int(row[1]) == action.attempts

    def defer(self, action_id: int, until: float, now: float) -> None:
        """Put a claimed action back as if it had not been claimed (no attempt used), due at `until`."""
        self._execute(
            "UPDATE actions SET status = 'pending', attempts = attempts - 1, next_attempt_at = ?, "
            "lease_until = NULL, updated_at = ? WHERE id = ?",
            (until, now, action_id),
        )

    def finish(
        self, action_id: int, status: str, external_id: str | None, error: str | None, now: float
    ) -> None:
        self._execute(
            "UPDATE actions SET status = ?, external_id = COALESCE(?, external_id), lease_until = NULL, "
            "last_error = ?, updated_at = ?, finished_at = ? WHERE id = ?",
            (status, external_id, error, now, now, action_id),
        )

    def schedule_retry(self, action_id: int, due: float, error: str | None, now: float) -> None:
        self._execute(
            "UPDATE actions SET status = 'retry', next_attempt_at = ?, lease_until = NULL, "
            "last_error = ?, updated_at = ? WHERE id = ?",
            (due, error, now, action_id),
        )

    def decide(
        self, action_id: int, status: str, approved_by: str | None, now: float, reset_attempts: bool
    ) -> None:
        """A human decision: the new status is due now; a rejection is final; a retry starts afresh."""
        finished = now if status == "rejected" else None
        self._execute(
            "UPDATE actions SET status = ?, approved_by = ?, next_attempt_at = ?, updated_at = ?, "
            "finished_at = ?, attempts = CASE WHEN ? THEN 0 ELSE attempts END WHERE id = ?",
            (status, approved_by, now, now, finished, reset_attempts, action_id),
        )

    def last_success_since(self, action: ActionRow, since: float) -> int | None:
        """The newest other firing action of the same kind and business key that succeeded since `since`."""
        row = self._one(
            "SELECT id, finished_at FROM actions WHERE action = ? AND correlation_key = ? "
            "AND id <> ? AND status = 'succeeded' AND phase = 'fire' AND finished_at >= ? "
            "ORDER BY finished_at DESC LIMIT 1",
            (action.action, action.correlation_key, action.id, since),
        )
        return None if row is None else int(row[0])

    def succeeded_since(self, action: str, since: float) -> int:
        """How many firing or storm actions of this kind succeeded since `since` (the hourly budget)."""
        (count,) = self._one(
            "SELECT COUNT(*) FROM actions WHERE action = ? AND status = 'succeeded' "
            "AND phase IN ('fire', 'storm') AND finished_at >= ?",
            (action, since),
        )
        return int(count)

    # -- storms ----------------------------------------------------------------------------------------
    def open_storm(self, storm_key: str, since: float) -> tuple[int, int] | None:
        """(storm id, parent action id) of the storm on this key still open at `since`."""
        row = self._one(
            "SELECT id, parent_action_id FROM storms WHERE storm_key = ? AND last_at >= ? "
            "ORDER BY id DESC LIMIT 1",
            (storm_key, since),
        )
        return None if row is None else (int(row[0]), int(row[1]))

    def storm_fires_since(self, storm_key: str, since: float) -> int:
        (count,) = self._one(
            "SELECT COUNT(*) FROM actions WHERE storm_key = ? AND created_at >= ? AND phase = 'fire'",
            (storm_key, since),
        )
        return int(count)

    def storm_waiting(self, storm_key: str, since: float) -> list[int]:
        """Firing actions on this storm key created since `since` and still waiting in the outbox."""
        rows = self._all(
            "SELECT id FROM actions WHERE storm_key = ? AND created_at >= ? AND phase = 'fire' "
            "AND status IN ('pending', 'retry')",
            (storm_key, since),
        )
        return [int(r[0]) for r in rows]

    def insert_storm(self, storm_key: str, action: str, now: float, alerts: int) -> int:
        storm_id = self._insert_returning_id(
            "INSERT INTO storms (storm_key, action, opened_at, last_at, alert_count) VALUES (?, ?, ?, ?, ?)",
            (storm_key, action, now, now, alerts),
        )
        assert storm_id is not None
        return storm_id

    def set_storm_parent(self, storm_id: int, parent_action_id: int) -> None:
        self._execute("UPDATE storms SET parent_action_id = ? WHERE id = ?", (parent_action_id, storm_id))

    def extend_storm(self, storm_id: int, now: float, alerts: int) -> None:
        self._execute(
            "UPDATE storms SET last_at = ?, alert_count = alert_count + ? WHERE id = ?",
            (now, alerts, storm_id),
        )


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
                tx._execute(stmt)

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
            tx._one("SELECT 1")

    def probe_commit(self, now: float) -> None:
        """Commit one small write (the readiness probe): raises when the store cannot commit."""
        with self.transaction() as tx:
            tx.set_state("store_probe", now)

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
        sql = _SELECT_ACTION
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id LIMIT ? OFFSET ?"
        with self.transaction() as tx:
            return [ActionRow.from_db(r) for r in tx._all(sql, [*params, limit, offset])]

    def get_action(self, action_id: int) -> ActionRow | None:
        with self.transaction() as tx:
            return tx.action(action_id)

    def ledger_for(self, action_id: int) -> list[dict[str, Any]]:
        with self.transaction() as tx:
            rows = tx._all(
                "SELECT id, ts, event, detail FROM ledger WHERE action_id = ? ORDER BY id", (action_id,)
            )
        return [{"id": r[0], "ts": r[1], "event": r[2], "detail": json.loads(r[3])} for r in rows]

    def ledger_all(self, limit: int = 1000, after_id: int = 0) -> list[dict[str, Any]]:
        with self.transaction() as tx:
            rows = tx._all(
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

    def ledger_search(
        self,
        *,
        event: str | None = None,
        action_id: int | None = None,
        alertname: str | None = None,
        by: str | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """Ledger entries, newest first, filtered, each with its action's alertname (the approvals page).
        `by` (who decided, in the entry's JSON detail) is matched after the SQL filters, page by page, so no
        engine's JSON dialect is needed."""
        where, params = [], []
        if event:
            where.append("ledger.event = ?")
            params.append(event)
        if action_id is not None:
            where.append("ledger.action_id = ?")
            params.append(action_id)
        if alertname:
            where.append("actions.alertname = ?")
            params.append(alertname)
        sql = (
            "SELECT ledger.id, ledger.ts, ledger.action_id, ledger.notification_id, ledger.event,"
            " ledger.detail, actions.alertname FROM ledger LEFT JOIN actions ON actions.id = ledger.action_id"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY ledger.id DESC LIMIT ? OFFSET ?"
        out: list[dict[str, Any]] = []
        page, offset = max(limit, 500), 0
        while len(out) < limit:
            with self.transaction() as tx:
                rows = tx._all(sql, [*params, page, offset])
            for r in rows:
                detail = json.loads(r[5])
                if by and not (isinstance(detail, dict) and detail.get("by") == by):
                    continue
                out.append(
                    {
                        "id": r[0],
                        "ts": r[1],
                        "action_id": r[2],
                        "notification_id": r[3],
                        "event": r[4],
                        "detail": detail,
                        "alertname": r[6],
                    }
                )
                if len(out) == limit:
                    break
            if len(rows) < page or not by:
                break
            offset += page
        return out

    def outbox_stats(self, now: float) -> dict[str, float]:
        placeholders = ", ".join("?" for _ in OPEN_STATUSES)
        with self.transaction() as tx:
            depth, oldest = tx._one(
                f"SELECT COUNT(*), MIN(created_at) FROM actions WHERE status IN ({placeholders})",
                OPEN_STATUSES,
            )
            (awaiting,) = tx._one("SELECT COUNT(*) FROM actions WHERE status = 'awaiting_approval'")
            last_ok = tx._one("SELECT value FROM state WHERE key = 'last_dispatch_success'")
            watchdog = tx._one("SELECT value FROM state WHERE key = 'watchdog_last_seen'")
        return {
            "depth": float(depth),
            "oldest_age": 0.0 if oldest is None else max(0.0, now - float(oldest)),
            "awaiting_approval": float(awaiting),
            "last_dispatch_success": 0.0 if last_ok is None else float(last_ok[0]),
            "watchdog_last_seen": 0.0 if watchdog is None else float(watchdog[0]),
        }

    def action_by_key(self, idem_key: str) -> ActionRow | None:
        with self.transaction() as tx:
            return tx.action_by_key(idem_key)

    def storm_children(self, parent_action_id: int, limit: int = 500) -> tuple[list[dict[str, str]], int]:
        """The labels of the first `limit` actions a storm swallowed, and how many alerts it counted."""
        with self.transaction() as tx:
            rows = tx._all(
                "SELECT labels FROM actions WHERE parent_id = ? ORDER BY id LIMIT ?",
                (parent_action_id, limit),
            )
            (count,) = tx._one(
                "SELECT alert_count FROM storms WHERE parent_action_id = ?", (parent_action_id,)
            )
        return [json.loads(r[0]) for r in rows], count

    def reclaim_abandoned(self, now: float) -> int:
        """Every action left `dispatching` becomes due now (its lease is made expired); how many."""
        with self.transaction() as tx:
            rows = tx._all("SELECT id FROM actions WHERE status = 'dispatching'")
            for (action_id,) in rows:
                tx._execute("UPDATE actions SET lease_until = ? WHERE id = ?", (now - 1, action_id))
                tx.ledger("reclaimed_after_restart", {}, now, action_id=action_id)
        return len(rows)

    def claim_due(self, now: float, lease_seconds: float, limit: int) -> list[ActionRow]:
        """Take up to `limit` due actions (or ones whose lease expired: their worker died) for dispatch."""
        lock = self._claim_lock_clause()
        with self.transaction() as tx:
            # separate index range scans (an OR here made SQLite sort every due row on each claim)
            rows = tx._all(
                f"SELECT id FROM actions WHERE status = 'dispatching' AND lease_until < ? LIMIT ?{lock}",
                (now, limit),
            )
            for status in ("retry", "pending"):
                if len(rows) < limit:
                    rows += tx._all(
                        f"SELECT id FROM actions WHERE status = ? AND next_attempt_at <= ? "
                        f"ORDER BY next_attempt_at LIMIT ?{lock}",
                        (status, now, limit - len(rows)),
                    )
            claimed = []
            for (action_id,) in rows:
                before = tx.action(action_id)
                assert before is not None
                tx._execute(
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
            tx._execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK_KEY,))
            for stmt in self._schema():
                tx._execute(stmt)

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
