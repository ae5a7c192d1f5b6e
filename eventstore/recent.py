"""Values read at most a given age ago, bounded in number (least recently used go first):
hot-path reads that may trail the store by a known interval (a campaign's publishers, an
API key) are read once per interval instead of once per request."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from eventsourcing.application import LRUCache

V = TypeVar("V")


class RecentReads(Generic[V]):
    def __init__(
        self,
        maxsize: int,
        max_age_s: float,
        *,
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_age_s = max_age_s
        self._monotonic_s = monotonic_s
        self._reads: LRUCache[str, tuple[V, float]] = LRUCache(maxsize)

    def get(self, key: str, *, max_age_s: float | None = None) -> V | None:
        """The value if it was read at most `max_age_s` (default: the cache's) ago."""
        try:
            value, read_at = self._reads.get(key)
        except KeyError:  # the library's LRU cache signals a miss so
            return None
        age_max_s = self.max_age_s if max_age_s is None else max_age_s
        return value if self._monotonic_s() - read_at <= age_max_s else None

    def put(self, key: str, value: V) -> None:
        self._reads.put(key, (value, self._monotonic_s()))

    def forget(self, key: str) -> None:
        with contextlib.suppress(KeyError):  # not there: nothing to forget
            self._reads.get(key, evict=True)
