"""Reading the stored log in notification order, in pages, with each event's chain link."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from eventstore.rows import ChainedRow

PAGE_ROWS = 10_000
SelectChained = Callable[[int, int], list[ChainedRow]]


def pages(
    select_chained: SelectChained, start: int = 1, page_rows: int = PAGE_ROWS
) -> Iterator[list[ChainedRow]]:
    """Every row from `start` on, a page at a time (a deleted event is simply absent; an
    orphan link — PostgreSQL — shows up with no event)."""
    position = start
    while True:
        page = select_chained(position, page_rows)
        if not page:
            return
        yield page
        position = page[-1][0] + 1


def event_name(topic: str) -> str:
    """`domain.call:Call.PingReceived` → `Call.PingReceived`."""
    return topic.partition(":")[2]
