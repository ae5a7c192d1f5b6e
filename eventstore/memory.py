"""The in-memory store (`eventstore.store.EventStore`, PERSISTENCE_MODULE=eventsourcing.popo):
the library's plain-Python recorder with the audit chain kept beside it, for pure tests that
need the whole store's behaviour — notification ids, version conflicts, links — and no file."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.popo import POPOApplicationRecorder

from eventstore.chain import GENESIS, ChainHasher
from eventstore.rows import BuildRows, ChainedRow, LogRow, StoredRow


class ChainedMemoryApplicationRecorder(POPOApplicationRecorder):
    def __init__(self, *, chain_key: bytes) -> None:
        super().__init__()
        self.hasher = ChainHasher(chain_key)
        self._links: dict[int, bytes] = {}
        self._head_link = GENESIS
        self._append_lock = threading.Lock()

    # -- appending (EventStore) -------------------------------------------------------------
    def append(self, rows: Sequence[StoredRow]) -> list[int]:
        return self.append_exclusively(lambda: rows)

    def append_exclusively(self, build: BuildRows) -> list[int]:
        """One append at a time: `build` reads what the appends before it left."""
        with self._append_lock:
            rows = build()
            if not rows:
                return []
            stored = [StoredEvent(r[0], r[1], r[2], r[3]) for r in rows]
            ids = list(POPOApplicationRecorder.insert_events(self, stored) or ())
            previous = self._head_link
            for notification_id, (originator_id, version, topic, state) in zip(
                ids, rows, strict=True
            ):
                previous = self.hasher.link(
                    previous, notification_id, originator_id, version, topic, state
                )
                self._links[notification_id] = previous
            self._head_link = previous
            return ids

    def insert_events(self, stored_events: Sequence[StoredEvent], **_: Any) -> Sequence[int]:
        """The library's append (its `Application.save`), chained like every other."""
        return self.append(
            [(str(s.originator_id), s.originator_version, s.topic, s.state) for s in stored_events]
        )

    # -- reading the log (EventStore) ---------------------------------------------------------
    def read_chained(self, start: int, limit: int) -> list[ChainedRow]:
        return [
            (
                n.id,
                str(n.originator_id),
                n.originator_version,
                n.topic,
                n.state,
                self._links.get(n.id),
            )
            for n in self.select_notifications(start, limit)
        ]

    def read_topics(
        self, start: int, limit: int, *, stop: int, topics: Sequence[str]
    ) -> list[LogRow]:
        return [
            (n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
            for n in self.select_notifications(start, limit, stop=stop, topics=list(topics))
        ]

    def read_aggregate(self, originator_id: str) -> list[StoredRow]:
        return [
            (str(s.originator_id), s.originator_version, s.topic, s.state)
            for s in self.select_events(originator_id)
        ]

    def head(self) -> int:
        return self.max_notification_id() or 0
