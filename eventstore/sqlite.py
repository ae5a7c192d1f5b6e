"""The SQLite store (`eventstore.store.EventStore`): the eventsourcing library's recorder reads
aggregates for the library's repository; appends and the log's reads are our own SQL, each
event written with its link of the tamper-evident chain (`eventstore.chain`) in the same
transaction."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from eventstore.chain import GENESIS, ChainHasher
from eventstore.rows import BuildRows, ChainedRow, LogRow, StoredRow

CACHE_KIB = 256 * 1024  # the writing connection's page cache
SQLITE_LOCK_TIMEOUT_S = 30


def _database_path(db_name: str) -> str | None:
    """The file behind an SQLite database name (a path or a `file:` URI), None in memory."""
    if not db_name or ":memory:" in db_name or "mode=memory" in db_name:
        return None
    if db_name.startswith("file:"):
        return urllib.parse.unquote(urllib.parse.urlsplit(db_name).path)
    return db_name


class ChainedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    """The SQLite recorder, with each event's chain link in its own row (column `chain`).

    Every append holds the store's write lock from its start (the writers' turn on a lock
    file, then `BEGIN IMMEDIATE`) on a connection of its own. The head link is read under
    that lock after the first insert (so concurrent writers in other processes never
    interleave links), the first row's link is filled in, and the remaining rows go in with
    explicit, consecutive rowids (the notification ids) in one `executemany` — which is what
    makes the batched append fast. Reads of the log use a plain connection of their own."""

    def __init__(
        self,
        datastore: SQLiteDatastore,
        events_table_name: str = "stored_events",
        *,
        chain_key: bytes,
    ) -> None:
        super().__init__(datastore, events_table_name)
        self.hasher = ChainHasher(chain_key)
        self._reader: sqlite3.Connection | None = None
        self._reader_lock = threading.Lock()
        self._exclusive: sqlite3.Connection | None = None
        self._exclusive_lock = threading.Lock()
        self._turn_fd: int | None = None
        table = self.events_table_name
        self.insert_first_statement = (
            f"INSERT INTO {table} (originator_id, originator_version, topic, state) "
            "VALUES (?,?,?,?)"
        )
        self.insert_rest_statement = (
            f"INSERT INTO {table} "
            "(rowid, originator_id, originator_version, topic, state, chain) VALUES (?,?,?,?,?,?)"
        )
        self.select_head_statement = (
            f"SELECT chain FROM {table} WHERE rowid < ? ORDER BY rowid DESC LIMIT 1"
        )
        self.update_first_statement = f"UPDATE {table} SET chain = ? WHERE rowid = ?"
        self.select_chained_statement = (
            f"SELECT rowid, originator_id, originator_version, topic, state, chain FROM {table} "
            "WHERE rowid >= ? ORDER BY rowid LIMIT ?"
        )
        self.select_aggregate_statement = (
            f"SELECT originator_id, originator_version, topic, state FROM {table} "
            "WHERE originator_id = ? ORDER BY originator_version"
        )
        self.select_head_id_statement = f"SELECT MAX(rowid) FROM {table}"

    def construct_create_table_statements(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS "
            f"{self.events_table_name} ("
            "originator_id TEXT, "
            "originator_version INTEGER, "
            "topic TEXT, "
            "state BLOB, "
            "chain BLOB, "
            "PRIMARY KEY "
            "(originator_id, originator_version))"
        ]

    # -- appending (EventStore) -------------------------------------------------------------
    def append(self, rows: Sequence[StoredRow]) -> list[int]:
        """Append encoded events in one transaction → their notification ids."""
        return self.append_exclusively(lambda: rows)

    def append_exclusively(self, build: BuildRows) -> list[int]:
        """Take the store's write lock first, then build the rows and append them: nothing
        can be appended in between, so rows built from the state read inside `build` (by
        any connection: WAL readers see the last commit) cannot conflict. The writer's
        path (`EventWriter`); `build` must not wait for another writer."""
        with self._exclusive_transaction() as c:
            return self._append_rows(c, build())

    def insert_events(self, stored_events: Sequence[StoredEvent], **_: Any) -> Sequence[int]:
        """The library's append (its `Application.save`), chained like every other."""
        return self.append(
            [(str(s.originator_id), s.originator_version, s.topic, s.state) for s in stored_events]
        )

    def insert_snapshot_rows(self, table: str, rows: Sequence[StoredRow]) -> None:
        """Rows of the snapshot table, written in the writers' turn. The library's own path
        would wait for SQLite's lock in its busy handler, which sleeps up to 100 ms between
        tries while other processes' writers take turns: stalls of over a second were
        measured under load, with every request waiting on that writer behind them."""
        with self._exclusive_transaction() as c:
            c.executemany(
                f"INSERT INTO {table} (originator_id, originator_version, topic, state) "
                "VALUES (?,?,?,?)",
                rows,
            )

    @contextmanager
    def _exclusive_transaction(self) -> Iterator[sqlite3.Cursor]:
        """A transaction holding the store's write lock from its start (the writers' turn,
        then BEGIN IMMEDIATE), committed if the body returns."""
        with self._exclusive_lock, self._write_turn():
            if self._exclusive is None:
                self._exclusive = sqlite3.connect(
                    self.datastore.pool.db_name,
                    uri=True,
                    check_same_thread=False,
                    isolation_level=None,
                    timeout=self.datastore.pool.lock_timeout or SQLITE_LOCK_TIMEOUT_S,
                )
            c = self._exclusive.cursor()
            try:
                c.execute("BEGIN IMMEDIATE")  # the write lock, before reading anything
                try:
                    yield c
                except BaseException:
                    c.execute("ROLLBACK")
                    raise
                c.execute("COMMIT")
            except sqlite3.IntegrityError as error:  # what the library's own path raises
                raise IntegrityError(error) from error
            except sqlite3.OperationalError as error:
                raise OperationalError(error) from error

    @contextmanager
    def _write_turn(self) -> Iterator[None]:
        """Writers of every process take turns on a lock file beside the database: a waiter
        wakes the moment the lock is free, where SQLite's busy handler would poll with
        sleeps of up to 100 ms (the tail latency of two workers writing at once)."""
        path = _database_path(self.datastore.pool.db_name)
        if path is None:  # in memory: one process
            yield
            return
        if self._turn_fd is None:
            self._turn_fd = os.open(f"{path}.write-turn", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._turn_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._turn_fd, fcntl.LOCK_UN)

    def _append_rows(self, c: sqlite3.Cursor, rows: Sequence[StoredRow]) -> list[int]:
        if not rows:
            return []
        # the primary-key index takes random originator ids: past a few hundred thousand
        # events, SQLite's default 2 MB page cache turns inserts into disk reads
        c.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        c.execute(self.insert_first_statement, rows[0])  # takes the write lock
        first_id = int(c.lastrowid or 0)
        c.execute(self.select_head_statement, (first_id,))
        head = c.fetchone()
        previous = bytes(head[0]) if head and head[0] is not None else GENESIS
        link = self.hasher.link
        rest = []
        notification_id = first_id
        for originator_id, version, topic, state in rows:
            previous = link(previous, notification_id, originator_id, version, topic, state)
            rest.append((notification_id, originator_id, version, topic, state, previous))
            notification_id += 1
        c.execute(self.update_first_statement, (rest[0][5], first_id))
        if len(rest) > 1:
            c.executemany(self.insert_rest_statement, rest[1:])
        return list(range(first_id, notification_id))

    # -- reading the log (EventStore) ---------------------------------------------------------
    def _read(self, statement: str, params: Sequence[object]) -> list[Any]:
        """Rows of a query on the log's reading connection: a plain one of its own, since
        the pool's connections build sqlite3.Row objects, several times slower in bulk."""
        with self._reader_lock:
            if self._reader is None:
                self._reader = sqlite3.connect(
                    self.datastore.pool.db_name, uri=True, check_same_thread=False
                )
            return self._reader.execute(statement, params).fetchall()

    def read_chained(self, start: int, limit: int) -> list[ChainedRow]:
        """Raw rows with their links, from notification id `start` (the relay, projector and
        replay read this)."""
        return self._read(self.select_chained_statement, (start, limit))

    def read_topics(
        self, start: int, limit: int, *, stop: int, topics: Sequence[str]
    ) -> list[LogRow]:
        marks = ",".join("?" * len(topics))
        return self._read(
            f"SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {self.events_table_name} WHERE rowid >= ? AND rowid <= ? "
            f"AND topic IN ({marks}) ORDER BY rowid LIMIT ?",
            (start, stop, *topics, limit),
        )

    def read_aggregate(self, originator_id: str) -> list[StoredRow]:
        return self._read(self.select_aggregate_statement, (originator_id,))

    def head(self) -> int:
        (last,) = self._read(self.select_head_id_statement, ())[0]
        return int(last or 0)

    def close_reader(self) -> None:
        with self._reader_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
        with self._exclusive_lock:
            if self._exclusive is not None:
                self._exclusive.close()
                self._exclusive = None
            if self._turn_fd is not None:
                os.close(self._turn_fd)
                self._turn_fd = None
