"""Hot aggregates whose newest events are queued for the next group commit but not yet durable.

Without this, a handler holding a hot aggregate's lock (a buyer's account, on every win) waits
for its commit before the next handler may read the aggregate: one fsync per hold, however
many pings are waiting. With it, the next handler decides on the pending state at once and its
write is queued behind the first; the writer refuses a write whose predecessor was refused
(`EventWriter.submit(after=...)`), so nothing is ever built on a state that did not become
durable. Each handler still answers only after its own commit.

The pending state is visible only to a thread that holds the aggregate's lock (`visible`):
readers outside a command see durable state only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

from domain.base import PPCXAggregate


class PendingWrites:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._entries: dict[str, tuple[PPCXAggregate, Future[None]]] = {}
        self._local = threading.local()

    @contextmanager
    def visible(self, ids: Iterable[str]) -> Iterator[None]:
        """Within the block, this thread reads the pending state of `ids` (it holds their
        locks, so no other thread of this process can extend them meanwhile)."""
        self._local.ids = frozenset(ids)
        self._local.read = {}
        try:
            yield
        finally:
            self._local.ids = frozenset()
            self._local.read = {}

    def newest(self, aggregate_id: str) -> Any | None:
        """The aggregate at its newest pending version (shared: copy it before use), or None
        (read the store)."""
        if aggregate_id not in getattr(self._local, "ids", ()):
            return None
        with self._guard:
            entry = self._entries.get(aggregate_id)
        if entry is None:
            return None
        aggregate, ticket = entry
        if ticket.done():  # durable (the cache has it) or refused (the store has the truth)
            return None
        self._local.read[aggregate_id] = ticket  # what this thread's next write builds on
        return aggregate

    def after(self) -> list[Future[None]]:
        """The pending writes whose state this thread has read in the current block: a write
        decided on them must be refused if any of them is (even one refused meanwhile)."""
        return list(getattr(self._local, "read", {}).values())

    def publish(self, aggregates: Iterable[PPCXAggregate], ticket: Future[None]) -> None:
        """Record the aggregates just queued under `ticket` as the newest pending state of
        those this thread may see; each entry goes away when its write is settled."""
        ids: frozenset[str] = getattr(self._local, "ids", frozenset())
        published = [a for a in aggregates if a.id in ids]
        if not published:
            return
        with self._guard:
            for aggregate in published:
                self._entries[aggregate.id] = (aggregate, ticket)
        ticket.add_done_callback(lambda done: self._settle(published, done))

    def _settle(self, aggregates: list[PPCXAggregate], ticket: Future[None]) -> None:
        with self._guard:
            for aggregate in aggregates:
                entry = self._entries.get(aggregate.id)
                if entry is not None and entry[1] is ticket:
                    del self._entries[aggregate.id]

    def __len__(self) -> int:
        with self._guard:
            return len(self._entries)
