"""The portal's audits' own SQLite file (`audits.sqlite` in the data dir): each run of
`replay verify` that finance started, its progress while it runs and its report once done.

Not the event log: an audit is an operational record about the log (who checked it, when, and
what it found), and the log cannot record its own audit without changing what is audited.
Every API worker process reads and writes the same file, so each shows every audit; one audit
runs at a time (`begin` checks and inserts in one write transaction). Times are milliseconds
since the epoch (UTC). A connection is opened for each operation: a few a second at most.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_random

FILE_NAME = "audits.sqlite"
BUSY_TIMEOUT_S = 10.0
HISTORY_MAX = 200  # rows a history read returns at most

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_by TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    finished_ms INTEGER,
    state TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    heartbeat_ms INTEGER NOT NULL,
    log_head INTEGER NOT NULL,
    events INTEGER NOT NULL DEFAULT 0,
    position INTEGER NOT NULL DEFAULT 0,
    expect_head INTEGER,
    expect_link TEXT,
    head INTEGER,
    head_link TEXT,
    failure_count INTEGER,
    result TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS audits_by_state ON audits (state, id);
"""
_COLUMNS = (
    "id, started_by, started_ms, finished_ms, state, pid, host, heartbeat_ms, log_head, events, "
    "position, expect_head, expect_link, head, head_link, failure_count, result, error"
)


class AuditState(StrEnum):
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # its process died or stopped before the report


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    started_by: str  # the e-mail address of the user who started it
    started_ms: int
    finished_ms: int | None
    state: AuditState
    pid: int  # the process running it, on `host`
    host: str
    heartbeat_ms: int  # the last time its process said it was alive
    log_head: int  # the log's head when it started: what "done" means for the progress
    events: int  # events read so far
    position: int  # the notification id read up to
    expect_head: int | None  # the previous passed audit's head (None for the first)
    expect_link: str | None  # hex
    head: int | None  # the report's, once done
    head_link: str | None
    failure_count: int | None
    result: str | None  # the report's JSON (`replay.verify.Report.to_json`)
    error: str | None  # why it was interrupted

    @property
    def running(self) -> bool:
        return self.state is AuditState.RUNNING


@dataclass(frozen=True, slots=True)
class NewAudit:
    started_by: str
    started_ms: int
    pid: int
    host: str
    log_head: int


def _row(values: tuple[object, ...]) -> AuditRow:
    fields = list(values)
    fields[4] = AuditState(str(fields[4]))
    return AuditRow(*fields)  # type: ignore[arg-type]


@retry(
    retry=retry_if_exception_type(sqlite3.OperationalError),
    stop=stop_after_delay(BUSY_TIMEOUT_S),
    wait=wait_random(0.01, 0.1),
    reraise=True,
)
def _prepare(db: sqlite3.Connection) -> None:
    """WAL and the schema. Workers starting together race for a new file: switching its
    journal mode answers "database is locked" at once (SQLite's busy timeout does not wait
    for it), so the switch is tried again for as long as a busy write would wait."""
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(_SCHEMA)


class AuditStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._ready = False

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            if not self._ready:
                _prepare(db)
                self._ready = True
            yield db
        finally:
            db.close()

    def begin(self, new: NewAudit) -> tuple[AuditRow, bool]:
        """A new running audit, expecting the newest passed audit's head and link → (it,
        True); or, when one is running already, (that one, False). The check, the expectation
        and the insert are one write transaction, across processes."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                found = db.execute(
                    f"SELECT {_COLUMNS} FROM audits WHERE state = 'running' "  # noqa: S608 - ours
                    "ORDER BY id LIMIT 1"
                ).fetchone()
                if found is None:
                    expected = db.execute(
                        "SELECT head, head_link FROM audits WHERE state = 'passed' "
                        "ORDER BY id DESC LIMIT 1"
                    ).fetchone() or (None, None)
                    db.execute(
                        "INSERT INTO audits (started_by, started_ms, state, pid, host, "
                        "heartbeat_ms, log_head, expect_head, expect_link) "
                        "VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                        (
                            new.started_by,
                            new.started_ms,
                            new.pid,
                            new.host,
                            new.started_ms,
                            new.log_head,
                            *expected,
                        ),
                    )
                    found = db.execute(
                        f"SELECT {_COLUMNS} FROM audits WHERE id = last_insert_rowid()"  # noqa: S608
                    ).fetchone()
                    created = True
                else:
                    created = False
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return _row(found), created

    def beat(self, audit_id: int, now_ms: int, events: int, position: int) -> None:
        """The running audit's progress and heartbeat."""
        with self._connect() as db:
            db.execute(
                "UPDATE audits SET heartbeat_ms = ?, events = ?, position = ? "
                "WHERE id = ? AND state = 'running'",
                (now_ms, events, position, audit_id),
            )

    def finish(
        self,
        audit_id: int,
        now_ms: int,
        *,
        passed: bool,
        events: int,
        head: int,
        head_link: str,
        failure_count: int,
        result: str,
    ) -> bool:
        """The report of a running audit → False if it was no longer running (another
        process judged it interrupted: that verdict stands)."""
        state = AuditState.PASSED if passed else AuditState.FAILED
        with self._connect() as db:
            changed = db.execute(
                "UPDATE audits SET state = ?, finished_ms = ?, heartbeat_ms = ?, events = ?, "
                "position = ?, head = ?, head_link = ?, failure_count = ?, result = ? "
                "WHERE id = ? AND state = 'running'",
                (
                    state.value,
                    now_ms,
                    now_ms,
                    events,
                    head,
                    head,
                    head_link,
                    failure_count,
                    result,
                    audit_id,
                ),
            ).rowcount
        return changed > 0

    def interrupt(self, audit_id: int, now_ms: int, error: str) -> bool:
        """A running audit ended without a report → False if it was not running."""
        with self._connect() as db:
            changed = db.execute(
                "UPDATE audits SET state = 'interrupted', finished_ms = ?, error = ? "
                "WHERE id = ? AND state = 'running'",
                (now_ms, error, audit_id),
            ).rowcount
        return changed > 0

    def get(self, audit_id: int) -> AuditRow | None:
        with self._connect() as db:
            found = db.execute(
                f"SELECT {_COLUMNS} FROM audits WHERE id = ?",  # noqa: S608 - our column names
                (audit_id,),
            ).fetchone()
        return None if found is None else _row(found)

    def running(self) -> list[AuditRow]:
        with self._connect() as db:
            found = db.execute(
                f"SELECT {_COLUMNS} FROM audits WHERE state = 'running' ORDER BY id"  # noqa: S608
            ).fetchall()
        return [_row(r) for r in found]

    def last_passed(self) -> AuditRow | None:
        """The newest audit that passed: its head is the next one's expectation."""
        with self._connect() as db:
            found = db.execute(
                f"SELECT {_COLUMNS} FROM audits WHERE state = 'passed' "  # noqa: S608 - ours
                "ORDER BY id DESC LIMIT 1"
            ).fetchone()
        return None if found is None else _row(found)

    def history(self, limit: int) -> list[AuditRow]:
        """The newest audits first."""
        with self._connect() as db:
            found = db.execute(
                f"SELECT {_COLUMNS} FROM audits ORDER BY id DESC LIMIT ?",  # noqa: S608 - ours
                (min(limit, HISTORY_MAX),),
            ).fetchall()
        return [_row(r) for r in found]
