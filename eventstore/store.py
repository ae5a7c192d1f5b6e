"""The event store as the rest of PPCX sees it: a small interface of ours, implemented by the
SQLite, PostgreSQL and in-memory recorders (`eventstore.sqlite`, `.postgres`, `.memory`) with
SQL of their own — nothing outside this package touches the eventsourcing library's
persistence, and nothing here depends on the library's private methods.

Appends write each event's link of the audit chain in the same transaction, in notification
order. A version conflict (someone appended the aggregate's version first) raises
`VersionConflict` and writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from eventsourcing.persistence import RecordConflictError

from eventstore.rows import BuildRows, ChainedRow, LogRow, StoredRow

VersionConflict = RecordConflictError
"""Raised by an append when an aggregate's version was taken: the caller decides again."""


class EventStore(Protocol):
    def append(self, rows: Sequence[StoredRow]) -> list[int]:
        """Append encoded events atomically → their notification ids."""
        ...

    def append_exclusively(self, build: BuildRows) -> list[int]:
        """Take the store's write lock, then build the rows and append them: nothing can be
        appended in between, so rows built from what `build` read cannot conflict. `build`
        must be quick and must not wait for another writer."""
        ...

    def read_chained(self, start: int, limit: int) -> list[ChainedRow]:
        """Up to `limit` rows from notification id `start`, with their links (an event
        without a link, or a link without an event, shows up with the other side None)."""
        ...

    def read_topics(
        self, start: int, limit: int, *, stop: int, topics: Sequence[str]
    ) -> list[LogRow]:
        """Up to `limit` rows of the given topics, from `start` up to `stop` (inclusive)."""
        ...

    def read_aggregate(self, originator_id: str) -> list[StoredRow]:
        """One aggregate's rows, in version order."""
        ...

    def head(self) -> int:
        """The last notification id (0 when the store is empty)."""
        ...


class Positions(Protocol):
    """Durable positions of the store's followers (the relay), kept in the store itself."""

    def position(self, name: str) -> int:
        """The last notification id `name` handled (0 at first)."""
        ...

    def advance(self, name: str, position: int) -> None:
        """Record that `name` handled everything up to `position`."""
        ...
