"""What a rate limit refused, recorded for the one it concerns: a publisher's pings over its
limit. Not one event per refused ping (a flood of refusals would flood the log): at most one
report per publisher per `RATE_LIMITED_REPORT_EVERY_MS`, with how many were refused since the
previous report. Each report is its own small aggregate, created and never changed, so
recording one reads nothing; its id is derived from the publisher and the report's time, so
a retried save records it once."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from eventsourcing.domain import event

from domain.base import PPCXAggregate
from domain.ids import derived_id


def report_id(publisher_id: str, until_ms: int) -> str:
    return derived_id("rlr", publisher_id, str(until_ms))


class RateLimitReport(PPCXAggregate):
    if TYPE_CHECKING:  # the event classes `@event` makes, for type checkers
        PingsRefused: type[PPCXAggregate.Created]

    @event("PingsRefused")
    def __init__(
        self,
        id: str,
        publisher_id: str,
        refused: int,
        since_at: datetime | None,
        rate_per_s: int,
        burst: int,
        reason: str,
        timestamp: datetime,
    ) -> None:
        """`refused` pings of the publisher were refused after `since_at` (the previous report;
        None: the first) up to `timestamp`, under the limit `rate_per_s` / `burst`."""
        self.publisher_id = publisher_id
        self.refused = refused
        self.since_at = since_at
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.reason = reason
