"""The rows of the event log as stored: plain tuples (they cross process boundaries: replay's
worker receives pages of them marshalled)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

StoredRow = tuple[str, int, str, bytes]  # originator id, version, topic, state
BuildRows = Callable[[], Sequence[StoredRow]]
LogRow = tuple[int, str, int, str, bytes]  # notification id, originator id, version, topic, state
ChainedRow = tuple[int, str | None, int | None, str | None, bytes | None, bytes | None]
"""notification id, originator id, version, topic, state, link (None where a side is missing)"""
