"""The PostgreSQL recorder: the eventsourcing library's, plus the links of the tamper-evident
chain (`eventstore.chain`) in a table of their own, written in the same transaction."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from eventstore.chain import GENESIS, ChainHasher
from eventstore.rows import BuildRows, ChainedRow, StoredRow

CHAIN_TABLE = "ppcx_event_chain"  # PostgreSQL keeps links beside the library's table


class ChainedPostgresApplicationRecorder(PostgresApplicationRecorder):
    """The PostgreSQL recorder, plus the chain links, written while the library holds its
    EXCLUSIVE lock on the events table (so links follow notification order)."""

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
        self.insert_events_statement += SQL(", originator_id, originator_version")
        self.chain_table = Identifier(datastore.schema or "public"), Identifier(CHAIN_TABLE)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} "
                "(notification_id bigint PRIMARY KEY, digest bytea NOT NULL)"
            ).format(*self.chain_table)
        )

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # RETURNING order is not promised by SQL, so the rows name their event.
        returned = {
            (str(row["originator_id"]), int(row["originator_version"])): int(row["notification_id"])
            for row in curs.fetchall()
        }
        ids = [returned[(str(s.originator_id), s.originator_version)] for s in stored_events]
        curs.execute(
            SQL("SELECT digest FROM {}.{} ORDER BY notification_id DESC LIMIT 1").format(
                *self.chain_table
            )
        )
        head = curs.fetchone()
        previous = bytes(head["digest"]) if head else GENESIS
        links = []
        for notification_id, s in sorted(zip(ids, stored_events, strict=True), key=lambda p: p[0]):
            previous = self.hasher.link(
                previous,
                notification_id,
                str(s.originator_id),
                s.originator_version,
                s.topic,
                s.state,
            )
            links.append((notification_id, previous))
        curs.executemany(SQL("INSERT INTO {}.{} VALUES (%s, %s)").format(*self.chain_table), links)
        return ids

    def insert_rows_exclusively(self, build: BuildRows) -> list[int]:
        """Take the events table's EXCLUSIVE lock (readers still read), then build the rows
        and append them: nothing can be appended in between (see the SQLite recorder)."""
        with (
            self._exclusive_lock,  # one per process: a waiter must not hold a pooled connection
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as curs,
        ):
            self._lock_table(curs)
            stored = [StoredEvent(r[0], r[1], r[2], r[3]) for r in build()]
            if not stored:
                return []
            self._insert_stored_events(curs, stored)
            ids = self._fetch_ids_after_insert_events(curs, stored)
            assert ids is not None
            return list(ids)

    def insert_rows(self, rows: Sequence[StoredRow]) -> list[int]:
        """Append encoded events in one transaction → their notification ids."""
        stored = [StoredEvent(r[0], r[1], r[2], r[3]) for r in rows]
        ids = self.insert_events(stored)
        assert ids is not None
        return list(ids)

    def select_chained(self, start: int, limit: int) -> list[ChainedRow]:
        """Events joined to their links by notification id; a full join, so an event without
        a link and a link without an event both show up (replay reads this)."""
        schema, chain = self.chain_table
        statement = SQL(
            "SELECT COALESCE(e.notification_id, c.notification_id) AS id, e.originator_id, "
            "e.originator_version, e.topic, e.state, c.digest "
            "FROM {schema}.{events} e FULL OUTER JOIN {schema}.{chain} c "
            "ON e.notification_id = c.notification_id "
            "WHERE COALESCE(e.notification_id, c.notification_id) >= %s "
            "ORDER BY 1 LIMIT %s"
        ).format(schema=schema, events=Identifier(self.events_table_name), chain=chain)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (start, limit))
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
