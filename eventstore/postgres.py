"""The PostgreSQL store (`eventstore.store.EventStore`): the eventsourcing library's recorder
reads aggregates for the library's repository and creates the tables; appends and the log's
reads are our own SQL. The links of the tamper-evident chain (`eventstore.chain`) live in a
table of their own, written in the same transaction as the events, while the events table is
locked EXCLUSIVE (so links follow notification order).

The EXCLUSIVE lock is the store's own: it serialises appends from every process of every host
on the database (SQLite's write-turn lock file only orders the processes of one machine). The
notification ids are numbered under that lock (the head plus one), not drawn from the table's
sequence: a sequence value is spent by a transaction that rolls back (a version conflict, a
host killed mid-append), and a spent value would be a gap in the ids that `replay verify`
rightly reads as a deleted event."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier, Literal

from eventstore.chain import GENESIS, ChainHasher
from eventstore.rows import BuildRows, ChainedRow, LogRow, StoredRow

CHAIN_TABLE = "ppcx_event_chain"  # PostgreSQL keeps links beside the library's table


class ChainedPostgresApplicationRecorder(PostgresApplicationRecorder):
    """The PostgreSQL recorder, plus the chain links, written under the events table's
    EXCLUSIVE lock (readers still read)."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        events_table_name: str = "stored_events",
        chain_key: bytes,
    ) -> None:
        if datastore.enable_db_functions:
            raise ValueError("POSTGRES_ENABLE_DB_FUNCTIONS bypasses the audit chain; unset it")
        super().__init__(datastore, events_table_name=events_table_name)
        self.hasher = ChainHasher(chain_key)
        self._exclusive_lock = threading.Lock()
        schema = Identifier(datastore.schema or "public")
        events = Identifier(events_table_name)
        self.chain_table = schema, Identifier(CHAIN_TABLE)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} "
                "(notification_id bigint PRIMARY KEY, digest bytea NOT NULL)"
            ).format(*self.chain_table)
        )
        # one round trip takes the lock and reads the head (id and link) under it: every
        # round trip made while holding the lock is time every other host waits
        self.lock_statement: Composed = SQL("; ").join(
            [
                SQL("SET LOCAL lock_timeout = {}").format(Literal(f"{datastore.lock_timeout}s")),
                SQL("LOCK TABLE {}.{} IN EXCLUSIVE MODE").format(schema, events),
                SQL("NOTIFY {}").format(Identifier(events_table_name.replace(".", "_"))),
                SQL(
                    "SELECT (SELECT MAX(notification_id) FROM {schema}.{events}) AS head, "
                    "(SELECT digest FROM {schema}.{chain} ORDER BY notification_id DESC LIMIT 1) "
                    "AS digest"
                ).format(schema=schema, events=events, chain=self.chain_table[1]),
            ]
        )
        # and one more writes the events and their links
        self.append_statement = SQL(
            "WITH appended AS (INSERT INTO {schema}.{events} "
            "(notification_id, originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest("
            "%s::bigint[], %s::text[], %s::bigint[], %s::text[], %s::bytea[])) "
            "INSERT INTO {schema}.{chain} SELECT * FROM unnest(%s::bigint[], %s::bytea[])"
        ).format(schema=schema, events=events, chain=self.chain_table[1])
        self.read_chained_statement = SQL(
            "SELECT COALESCE(e.notification_id, c.notification_id) AS id, e.originator_id, "
            "e.originator_version, e.topic, e.state, c.digest "
            "FROM {schema}.{events} e FULL OUTER JOIN {schema}.{chain} c "
            "ON e.notification_id = c.notification_id "
            "WHERE COALESCE(e.notification_id, c.notification_id) >= %s "
            "ORDER BY 1 LIMIT %s"
        ).format(schema=schema, events=events, chain=self.chain_table[1])
        self.read_topics_statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {}.{} WHERE notification_id >= %s AND notification_id <= %s "
            "AND topic = ANY(%s) ORDER BY notification_id LIMIT %s"
        ).format(schema, events)
        self.read_aggregate_statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {}.{} "
            "WHERE originator_id = %s ORDER BY originator_version"
        ).format(schema, events)
        self.head_statement = SQL("SELECT MAX(notification_id) AS head FROM {}.{}").format(
            schema, events
        )

    # -- appending (EventStore) -------------------------------------------------------------
    def append(self, rows: Sequence[StoredRow]) -> list[int]:
        """Append encoded events in one transaction → their notification ids."""
        return self.append_exclusively(lambda: rows)

    def append_exclusively(self, build: BuildRows) -> list[int]:
        """Take the events table's EXCLUSIVE lock (readers still read), then build the rows
        and append them: nothing can be appended in between (see the SQLite store). A
        version taken already is a unique violation: the library's connection raises its
        IntegrityError (`eventstore.store.VersionConflict`) and nothing is written."""
        with (
            self._exclusive_lock,  # one per process: a waiter must not hold a pooled connection
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as curs,
        ):
            curs.execute(self.lock_statement)
            while curs.nextset():  # to the last statement's result: the head
                pass
            head = curs.fetchone()
            rows = build()
            if not rows:
                return []
            return self._append_locked(curs, rows, head)

    def insert_events(self, stored_events: Sequence[StoredEvent], **_: Any) -> Sequence[int]:
        """The library's append (its `Application.save`), chained like every other."""
        return self.append(
            [(str(s.originator_id), s.originator_version, s.topic, s.state) for s in stored_events]
        )

    def _append_locked(
        self, curs: Cursor[DictRow], rows: Sequence[StoredRow], head: DictRow | None
    ) -> list[int]:
        """Under the EXCLUSIVE lock: number the rows from the head, chain them, and insert
        events and links in one statement."""
        first_id = int(head["head"] or 0) + 1 if head else 1
        ids = list(range(first_id, first_id + len(rows)))
        previous = bytes(head["digest"]) if head and head["digest"] is not None else GENESIS
        links = []
        for notification_id, (originator_id, version, topic, state) in zip(ids, rows, strict=True):
            previous = self.hasher.link(
                previous, notification_id, originator_id, version, topic, state
            )
            links.append(previous)
        curs.execute(
            self.append_statement,
            (
                ids,
                [r[0] for r in rows],
                [r[1] for r in rows],
                [r[2] for r in rows],
                [r[3] for r in rows],
                ids,
                links,
            ),
        )
        return ids

    # -- reading the log (EventStore) ---------------------------------------------------------
    def read_chained(self, start: int, limit: int) -> list[ChainedRow]:
        """Events joined to their links by notification id; a full join, so an event without
        a link and a link without an event both show up (replay reads this)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.read_chained_statement, (start, limit))
            return [
                (
                    int(r["id"]),
                    None if r["originator_id"] is None else str(r["originator_id"]),
                    r["originator_version"],
                    r["topic"],
                    None if r["state"] is None else bytes(r["state"]),
                    None if r["digest"] is None else bytes(r["digest"]),
                )
                for r in curs.fetchall()
            ]

    def read_topics(
        self, start: int, limit: int, *, stop: int, topics: Sequence[str]
    ) -> list[LogRow]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.read_topics_statement, (start, stop, list(topics), limit))
            return [
                (
                    int(r["notification_id"]),
                    str(r["originator_id"]),
                    int(r["originator_version"]),
                    str(r["topic"]),
                    bytes(r["state"]),
                )
                for r in curs.fetchall()
            ]

    def read_aggregate(self, originator_id: str) -> list[StoredRow]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.read_aggregate_statement, (originator_id,))
            return [
                (
                    str(r["originator_id"]),
                    int(r["originator_version"]),
                    str(r["topic"]),
                    bytes(r["state"]),
                )
                for r in curs.fetchall()
            ]

    def head(self) -> int:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.head_statement)
            row = curs.fetchone()
            return int(row["head"] or 0) if row else 0
