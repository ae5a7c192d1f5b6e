"""Aggregates decided earlier in the batch the writer is building (`EventWriter.execute`).

The writer decides queued commands one after the other inside one transaction; a command
must see what the commands before it changed (a buyer's balance after the previous hold),
though none of it is stored yet. Only the writer's thread sees this state, and only while
it builds the batch: every other reader sees the store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from domain.base import PPCXAggregate


class DecidedInBatch:
    def __init__(self) -> None:
        self._local = threading.local()

    @contextmanager
    def open(self) -> Iterator[dict[str, PPCXAggregate]]:
        """The batch's state for this thread: the writer puts each decided aggregate in."""
        decided: dict[str, PPCXAggregate] = {}
        self._local.decided = decided
        try:
            yield decided
        finally:
            self._local.decided = None

    def get(self, aggregate_id: str) -> PPCXAggregate | None:
        """The aggregate as decided earlier in this thread's open batch (shared: copy it)."""
        decided: dict[str, PPCXAggregate] | None = getattr(self._local, "decided", None)
        return None if decided is None else decided.get(aggregate_id)
