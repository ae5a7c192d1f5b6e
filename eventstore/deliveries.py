"""The webhook deliveries' own SQLite file (`deliveries.sqlite` in the data dir): each delivery
of one call event to one webhook, and each attempt to send it.

Not the event log: a delivery's attempts are operational records (statuses, latencies), not
facts of the exchange, and they are written at a rate the log should not carry. A delivery's id
is its payload's message id (`webhooks.payloads.message_id`), unique here, so an event that
JetStream delivers twice is recorded once. Times are milliseconds since the epoch (UTC).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "deliveries.sqlite"
EXCERPT_BYTES_MAX = 512  # of a response body kept with its attempt
BUSY_TIMEOUT_S = 10.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    body BLOB NOT NULL,
    state TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    next_attempt_ms INTEGER,
    first_attempt_ms INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_attempt_ms);
CREATE INDEX IF NOT EXISTS deliveries_of_webhook ON deliveries (webhook_id, created_ms);
CREATE INDEX IF NOT EXISTS deliveries_of_call ON deliveries (webhook_id, call_id, version);
CREATE TABLE IF NOT EXISTS attempts (
    delivery_id TEXT NOT NULL REFERENCES deliveries (id),
    webhook_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    status INTEGER,
    error TEXT,
    outcome TEXT NOT NULL,
    latency_ms INTEGER NOT NULL,
    excerpt BLOB NOT NULL,
    PRIMARY KEY (delivery_id, n)
);
CREATE INDEX IF NOT EXISTS attempts_of_webhook ON attempts (webhook_id, outcome, at_ms);
"""
_COLUMNS = (
    "id, webhook_id, call_id, version, type, body, state, created_ms, next_attempt_ms, "
    "first_attempt_ms, attempts"
)


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: str
    webhook_id: str
    call_id: str
    version: int
    type: str
    body: bytes
    state: str  # pending | delivered | failed
    created_ms: int
    next_attempt_ms: int | None  # None once delivered or failed
    first_attempt_ms: int | None
    attempts: int


@dataclass(frozen=True, slots=True)
class AttemptRow:
    n: int  # 1 for the first
    at_ms: int
    status: int | None  # the HTTP status; None: `error` says why there was none
    error: str | None
    outcome: str  # delivered | retry | failed
    latency_ms: int
    excerpt: bytes  # the response body's first EXCERPT_BYTES_MAX bytes


class DeliveryStore:
    """One connection, used from one thread at a time (a lock serialises the rest)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # an attempt's record may be lost to a power cut (not to a crash): the delivery is
            # sent again, and receivers de-duplicate by its id. `add` commits with FULL.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, rows: Sequence[DeliveryRow]) -> int:
        """Record new deliveries (one already recorded, by id, is left as it is) → how many
        were new."""
        with self._lock:
            before = self._db.total_changes
            # durable before the stream's message is acknowledged (syncing the WAL syncs the
            # attempts committed before it too)
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    f"INSERT OR IGNORE INTO deliveries ({_COLUMNS}) "  # noqa: S608 - our column names
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [_values(row) for row in rows],
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                self._db.execute("PRAGMA synchronous=NORMAL")
                raise
            self._db.execute("COMMIT")
            self._db.execute("PRAGMA synchronous=NORMAL")
            return self._db.total_changes - before

    def due(
        self, now_ms: int, limit: int, *, skip_webhooks: Sequence[str], skip_ids: Sequence[str]
    ) -> list[DeliveryRow]:
        """Pending deliveries whose time has come, oldest first, each the first pending one of
        its call to its webhook (a call's events reach an endpoint in order), except those of
        `skip_webhooks` and those of `skip_ids` (in flight)."""
        skip_w = ",".join("?" * len(skip_webhooks))
        skip_d = ",".join("?" * len(skip_ids))
        sql = (
            f"SELECT {_COLUMNS} FROM deliveries AS d WHERE state = 'pending' "  # noqa: S608 - marks
            "AND next_attempt_ms <= ? "
            f"AND webhook_id NOT IN ({skip_w}) AND id NOT IN ({skip_d}) "
            "AND NOT EXISTS (SELECT 1 FROM deliveries AS e WHERE e.webhook_id = d.webhook_id "
            "AND e.call_id = d.call_id AND e.version < d.version AND e.state = 'pending') "
            "ORDER BY next_attempt_ms, created_ms, version LIMIT ?"
        )
        with self._lock:
            found = self._db.execute(sql, (now_ms, *skip_webhooks, *skip_ids, limit))
            return [DeliveryRow(*row) for row in found.fetchall()]

    def recorded(self, delivery_ids: Sequence[str]) -> set[str]:
        """Those of `delivery_ids` that are recorded (by the primary key: cheap)."""
        marks = ",".join("?" * len(delivery_ids))
        with self._lock:
            found = self._db.execute(
                f"SELECT id FROM deliveries WHERE id IN ({marks})",  # noqa: S608 - marks
                tuple(delivery_ids),
            )
            return {row[0] for row in found.fetchall()}

    def get(self, delivery_id: str) -> DeliveryRow | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM deliveries WHERE id = ?",  # noqa: S608 - our column names
                (delivery_id,),
            ).fetchone()
        return None if row is None else DeliveryRow(*row)

    def of_webhook(self, webhook_id: str, limit: int) -> list[DeliveryRow]:
        """The webhook's newest deliveries first."""
        with self._lock:
            found = self._db.execute(
                f"SELECT {_COLUMNS} FROM deliveries WHERE webhook_id = ? "  # noqa: S608 - our columns
                "ORDER BY created_ms DESC, call_id, version DESC LIMIT ?",
                (webhook_id, limit),
            )
            return [DeliveryRow(*row) for row in found.fetchall()]

    def attempts(self, delivery_id: str) -> list[AttemptRow]:
        with self._lock:
            found = self._db.execute(
                "SELECT n, at_ms, status, error, outcome, latency_ms, excerpt FROM attempts "
                "WHERE delivery_id = ? ORDER BY n",
                (delivery_id,),
            )
            return [AttemptRow(*row) for row in found.fetchall()]

    def record_attempt(
        self, delivery: DeliveryRow, attempt: AttemptRow, state: str, next_attempt_ms: int | None
    ) -> None:
        """The attempt, and the delivery's state after it (with its next attempt's time)."""
        self.record_attempts([(delivery, attempt, state, next_attempt_ms)])

    def record_attempts(
        self, attempts: Sequence[tuple[DeliveryRow, AttemptRow, str, int | None]]
    ) -> None:
        """Attempts as `record_attempt` records one, in one transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO attempts (delivery_id, webhook_id, n, at_ms, status, error, "
                    "outcome, latency_ms, excerpt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            delivery.id,
                            delivery.webhook_id,
                            attempt.n,
                            attempt.at_ms,
                            attempt.status,
                            attempt.error,
                            attempt.outcome,
                            attempt.latency_ms,
                            attempt.excerpt[:EXCERPT_BYTES_MAX],
                        )
                        for delivery, attempt, _, _ in attempts
                    ],
                )
                self._db.executemany(
                    "UPDATE deliveries SET state = ?, next_attempt_ms = ?, attempts = ?, "
                    "first_attempt_ms = COALESCE(first_attempt_ms, ?) WHERE id = ?",
                    [
                        (state, next_ms, attempt.n, attempt.at_ms, delivery.id)
                        for delivery, attempt, state, next_ms in attempts
                    ],
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def send_again(self, delivery_id: str, now_ms: int) -> bool:
        """A delivery made due now, with a fresh 24 h of retries (its attempts are kept) →
        False when there is none."""
        with self._lock:
            changed = self._db.execute(
                "UPDATE deliveries SET state = 'pending', next_attempt_ms = ?, "
                "first_attempt_ms = NULL WHERE id = ?",
                (now_ms, delivery_id),
            ).rowcount
        return changed > 0

    def failing_since_ms(self, webhook_id: str) -> int | None:
        """The first attempt to the webhook that did not deliver since its last that did
        (None: its last attempt delivered, or it has none)."""
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(at_ms) FROM attempts WHERE webhook_id = ? AND outcome != 'delivered' "
                "AND at_ms > COALESCE((SELECT MAX(at_ms) FROM attempts WHERE webhook_id = ? "
                "AND outcome = 'delivered'), -1)",
                (webhook_id, webhook_id),
            ).fetchone()
        return None if row is None or row[0] is None else int(row[0])


def _values(row: DeliveryRow) -> tuple[object, ...]:
    return (
        row.id,
        row.webhook_id,
        row.call_id,
        row.version,
        row.type,
        row.body,
        row.state,
        row.created_ms,
        row.next_attempt_ms,
        row.first_attempt_ms,
        row.attempts,
    )
