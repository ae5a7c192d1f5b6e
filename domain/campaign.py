"""A campaign: a vertical's offer to publishers, with its payout rule and distribution mode."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import event

from domain.base import PPCXAggregate
from domain.billing import PayoutRule, floor_cents


class Distribution(StrEnum):
    """How a campaign's auction ranks its bids (`exchange.auction.rank`)."""

    AUCTION = "auction"
    WATERFALL = "waterfall"
    ROUND_ROBIN = "round_robin"
    WEIGHTED = "weighted"


DISTRIBUTIONS: tuple[Distribution, ...] = tuple(Distribution)


# The attributes a `Campaign.RulesChanged` may set (its `changes` keys): the rules of
# `Campaign.Created` less its market (a partition of the exchange's hot state).
RULE_ATTRIBUTES: tuple[str, ...] = (
    "name",
    "vertical",
    "payout",
    "duplicate_window_days",
    "distribution",
    "min_bid_cents",
    "min_margin_cents",
    "allow_negative_margin",
    "max_attempts",
    "bid_ttl_s",
    "rtb_deadline_ms",
    "keywords",  # newer than `Created`: only ever set by RulesChanged (call evidence)
)


class Campaign(PPCXAggregate):
    if TYPE_CHECKING:  # the event classes `@event` makes, for type checkers
        Created: type[PPCXAggregate.Created]
        PublisherAllowed: type[PPCXAggregate.Event]
        PublisherDisallowed: type[PPCXAggregate.Event]
        RulesChanged: type[PPCXAggregate.Event]

    # the phrases spotted in its calls' transcripts ({"phrases": [...]},
    # `domain.transcript.parse_keywords`); None: never set, nothing is spotted
    keywords: dict[str, Any] | None = None

    @event("Created")
    def __init__(
        self,
        id: str,
        name: str,
        vertical: str,
        payout: dict[str, Any],
        duplicate_window_days: int,
        distribution: str,
        min_bid_cents: int,
        min_margin_cents: int,
        allow_negative_margin: bool,
        max_attempts: int,
        bid_ttl_s: int,
        rtb_deadline_ms: int,
        market: str,
        by: str,
        timestamp: datetime,
    ) -> None:
        self.name = name
        self.vertical = vertical
        self.payout = payout
        self.duplicate_window_days = duplicate_window_days
        self.distribution = distribution
        self.min_bid_cents = min_bid_cents
        self.min_margin_cents = min_margin_cents
        self.allow_negative_margin = allow_negative_margin
        self.max_attempts = max_attempts
        self.bid_ttl_s = bid_ttl_s
        self.rtb_deadline_ms = rtb_deadline_ms
        self.market = market
        self.allowed_publishers: list[str] = []

    @event("PublisherAllowed")
    def allow_publisher(self, publisher_id: str, by: str, timestamp: datetime) -> None:
        self.allowed_publishers.append(publisher_id)

    @event("PublisherDisallowed")
    def disallow_publisher(self, publisher_id: str, by: str, timestamp: datetime) -> None:
        self.allowed_publishers.remove(publisher_id)

    @event("RulesChanged")
    def change_rules(self, changes: dict[str, Any], by: str, timestamp: datetime) -> None:
        """New values of some rule attributes (`RULE_ATTRIBUTES`), only those that changed."""
        for name, value in changes.items():
            setattr(self, name, value)

    def payout_rule(self) -> PayoutRule:
        return PayoutRule.from_dict(self.payout)

    def floor_cents(self) -> int:
        return floor_cents(self.payout_rule(), self.min_margin_cents, self.min_bid_cents)

    def admits(self, publisher_id: str) -> bool:
        return publisher_id in self.allowed_publishers
