"""A campaign: a vertical's offer to publishers, with its payout rule and distribution mode."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import event

from domain.base import PPCXAggregate
from domain.billing import PayoutRule, floor_cents
from domain.call_flags import FlagRules
from domain.limits import BUZZER_MARGIN_S, SHORT_CALL_S


class Distribution(StrEnum):
    """How a campaign's auction ranks its bids (`exchange.auction.rank`)."""

    AUCTION = "auction"
    WATERFALL = "waterfall"
    ROUND_ROBIN = "round_robin"
    WEIGHTED = "weighted"


DISTRIBUTIONS: tuple[Distribution, ...] = tuple(Distribution)


# The attributes a `Campaign.RulesChanged` may set (its `changes` keys): the rules of
# `Campaign.Created` less its market (a partition of the exchange's hot state), and `ivr`
# (newer than `Created`: a campaign created with questions records them as a rule change).
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
    # screening before the auction (`domain.screening`): newer than `Created`, so set by a
    # `RulesChanged` (in the same save as `Created` when a campaign is created with them)
    "exclude_toll_free",
    "exclude_premium_rate",
    "velocity",
    # newer than `Campaign.Created` (set by RulesChanged, in the same save as Created when a
    # campaign is created with them): traffic quality (`domain.call_flags`)
    "buzzer_margin_s",
    "short_call_s",
    "bill_buzzer_beaters",
    "ivr",
    "recording",  # newer than `Created`: set by RulesChanged only (`domain/recording.py`)
    "keywords",  # newer than `Created`: only ever set by RulesChanged (call evidence)
)
# the screening attributes, which `Created` never stores
SCREENING_ATTRIBUTES: tuple[str, ...] = ("exclude_toll_free", "exclude_premium_rate", "velocity")


class Campaign(PPCXAggregate):
    if TYPE_CHECKING:  # the event classes `@event` makes, for type checkers
        Created: type[PPCXAggregate.Created]
        PublisherAllowed: type[PPCXAggregate.Event]
        PublisherDisallowed: type[PPCXAggregate.Event]
        RulesChanged: type[PPCXAggregate.Event]

    # newer than the first stored logs: class-level defaults, so an older campaign loads
    exclude_toll_free = False
    exclude_premium_rate = False
    velocity: dict[str, int] | None = None  # `domain.screening.VelocityJson`; None: default
    # rules newer than the first stored logs: class-level defaults, so a campaign of an older
    # log has them too. A call the buyer ends within `buzzer_margin_s` before its buffer is a
    # buzzer-beater (billed only when `bill_buzzer_beaters`); one shorter than `short_call_s`
    # is a short call.
    buzzer_margin_s: int = BUZZER_MARGIN_S.default or 0
    short_call_s: int = SHORT_CALL_S.default or 0
    bill_buzzer_beaters = False
    # a setting newer than the first stored logs: a class-level default, so a campaign loaded
    # from an older snapshot has it too. The IVR questions asked before the auction, as
    # `domain.ivr.IvrScript.to_dict()` stores them (None: none asked)
    ivr: dict[str, Any] | None = None
    # the recording rule (`domain.recording.RecordingRule.to_dict`; None: calls are not
    # recorded): newer than the first stored logs, a class-level default
    recording: dict[str, Any] | None = None
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

    def flag_rules(self) -> FlagRules:
        return FlagRules(self.buzzer_margin_s, self.short_call_s)

    def admits(self, publisher_id: str) -> bool:
        return publisher_id in self.allowed_publishers
