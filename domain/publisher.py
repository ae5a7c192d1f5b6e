"""A publisher: sends pings and earns payouts."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import event

from domain.base import PPCXAggregate


class Publisher(PPCXAggregate):
    if TYPE_CHECKING:  # the event classes `@event` makes, for type checkers
        Registered: type[PPCXAggregate.Created]
        Renamed: type[PPCXAggregate.Event]
        Suspended: type[PPCXAggregate.Event]
        Reinstated: type[PPCXAggregate.Event]
        PingLimitSet: type[PPCXAggregate.Event]
        FlaggedForReview: type[PPCXAggregate.Event]
        ReviewCleared: type[PPCXAggregate.Event]

    # newer than the first stored logs: a class-level default, so a publisher loaded from an
    # older snapshot has it too (and its state equals its events' fold)
    suspended = False
    # its pings' token bucket (None: `domain.limits.PING_RATE_PER_S` / `PING_BURST` defaults)
    ping_rate_per_s: int | None = None
    ping_burst: int | None = None
    # the campaigns on which the anomaly watch (`domain/anomaly.py`) flagged it for review,
    # until an admin clears them
    flagged_for_review: tuple[str, ...] = ()

    @event("Registered")
    def __init__(self, id: str, name: str, by: str, timestamp: datetime) -> None:
        self.name = name
        self.registered_by = by

    @event("Renamed")
    def rename(self, name: str, by: str, timestamp: datetime) -> None:
        self.name = name

    @event("Suspended")
    def suspend(self, reason: str, by: str, timestamp: datetime) -> None:
        """Its pings, RTB pings and posts are refused until it is reinstated."""
        self.suspended = True

    @event("Reinstated")
    def reinstate(self, by: str, timestamp: datetime) -> None:
        self.suspended = False

    @event("PingLimitSet")
    def set_ping_limit(
        self, rate_per_s: int | None, burst: int | None, by: str, timestamp: datetime
    ) -> None:
        """Its pings and RTB pings together: `rate_per_s` a second, bursts of `burst`."""
        self.ping_rate_per_s = rate_per_s
        self.ping_burst = burst

    @event("FlaggedForReview")
    def flag_for_review(
        self,
        campaign_id: str,
        rate: str,
        call_id: str,
        window_started_at: datetime,
        publisher_counts: dict[str, int],
        campaign_counts: dict[str, int],
        publisher_rates: dict[str, str],
        campaign_rates: dict[str, str],
        thresholds: dict[str, Any],
        rule_version: int,
        by: str,
        timestamp: datetime,
    ) -> None:
        """The anomaly watch found its `rate` on the campaign far above the campaign's, over
        the window from `window_started_at` to `timestamp`, when `call_id` was counted."""
        self.flagged_for_review = (*self.flagged_for_review, campaign_id)

    @event("ReviewCleared")
    def clear_review(self, campaign_ids: list[str], by: str, timestamp: datetime) -> None:
        """An admin reviewed it: the watch may flag it again on these campaigns."""
        self.flagged_for_review = tuple(c for c in self.flagged_for_review if c not in campaign_ids)
