"""A target: one buyer's offer on one campaign — where calls go, what it bids, and its rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import event

from domain.base import PPCXAggregate
from domain.caps import Caps
from domain.geo import GeoRule
from domain.quality import AutoPauseRule, Unanswered, kept, rules_of
from domain.schedule import WeeklySchedule

# The attributes a `Target.RulesChanged` may set (its `changes` keys): the rules of
# `Target.Created` less the target's identity (buyer, campaign), and `requires_consent`
# (newer than `Created`: a target created requiring consent records it as a rule change).
RULE_ATTRIBUTES: tuple[str, ...] = (
    "name",
    "destination",
    "bid_cents",
    "rtb_url",
    "rtb_timeout_ms",
    "buffer_s",
    "geo",
    "schedule",
    "caps",
    "priority",
    "weight",
    "auto_pause",
    "requires_consent",
    "requires_tags",
    "whisper",  # newer than `Created`: set by RulesChanged only (`domain/recording.py`)
)


class Target(PPCXAggregate):
    if TYPE_CHECKING:  # the event classes `@event` makes, for type checkers
        Created: type[PPCXAggregate.Created]
        StandingBidSet: type[PPCXAggregate.Event]
        Paused: type[PPCXAggregate.Event]
        Resumed: type[PPCXAggregate.Event]
        RulesChanged: type[PPCXAggregate.Event]
        Archived: type[PPCXAggregate.Event]
        CallUnanswered: type[PPCXAggregate.Event]
        AutoPaused: type[PPCXAggregate.Event]

    # a state attribute newer than the first stored logs: a class-level default, so a target
    # loaded from an older snapshot has it too (and its state equals its events' fold)
    archived = False
    # auto-pause (`domain/quality.py`): the target's own rules as stored (None: the defaults),
    # and its recent unanswered calls, each `[call_id, RFC 3339 time]` (JSON as a snapshot
    # keeps it), cleared when it is paused automatically or resumed
    auto_pause: list[dict[str, int]] | None = None
    unanswered: Sequence[Sequence[str]] = ()
    requires_consent = False  # set by RulesChanged (a ping without consent is not for it)
    # the tags a ping must carry to reach it (`domain.ivr.satisfies`): name -> the value it
    # requires, or None for any value; None or empty: none required. Set by RulesChanged
    requires_tags: dict[str, str | None] | None = None
    whisper: str | None = None  # set by RulesChanged: said to its agent before connecting

    @event("Created")
    def __init__(
        self,
        id: str,
        buyer_id: str,
        campaign_id: str,
        name: str,
        destination: str,
        bid_cents: int | None,
        rtb_url: str | None,
        rtb_timeout_ms: int,
        buffer_s: int,
        geo: dict[str, Any],
        schedule: dict[str, Any],
        caps: dict[str, Any],
        priority: int,
        weight: int,
        by: str,
        timestamp: datetime,
    ) -> None:
        self.buyer_id = buyer_id
        self.campaign_id = campaign_id
        self.name = name
        self.destination = destination
        self.bid_cents = bid_cents
        self.rtb_url = rtb_url
        self.rtb_timeout_ms = rtb_timeout_ms
        self.buffer_s = buffer_s
        self.geo = geo
        self.schedule = schedule
        self.caps = caps
        self.priority = priority
        self.weight = weight
        self.paused = False

    @event("StandingBidSet")
    def set_bid(self, bid_cents: int, by: str, timestamp: datetime) -> None:
        self.bid_cents = bid_cents

    @event("Paused")
    def pause(self, reason: str, by: str, timestamp: datetime) -> None:
        self.paused = True

    @event("Resumed")
    def resume(self, by: str, timestamp: datetime) -> None:
        self.paused = False
        self.unanswered = []

    @event("CallUnanswered")
    def count_unanswered(self, call_id: str, by: str, timestamp: datetime) -> None:
        """A call routed to this target ended without being answered (at `timestamp`)."""
        recent = [*self.recent_unanswered(), Unanswered(call_id, timestamp)]
        self.unanswered = [[u.call_id, u.at.isoformat()] for u in kept(recent, timestamp)]

    @event("AutoPaused")
    def auto_pause_now(
        self,
        reason: str,
        call_ids: list[str],
        rule: dict[str, int],
        rule_version: int,
        by: str,
        timestamp: datetime,
    ) -> None:
        """Paused by a quality rule (`domain.quality.tripped`), counting `call_ids`."""
        self.paused = True
        self.unanswered = []

    def recent_unanswered(self) -> list[Unanswered]:
        return [Unanswered(c, datetime.fromisoformat(at)) for c, at in self.unanswered]

    def auto_pause_rules(self) -> tuple[AutoPauseRule, ...]:
        return rules_of(self.auto_pause)

    @event("RulesChanged")
    def change_rules(self, changes: dict[str, Any], by: str, timestamp: datetime) -> None:
        """New values of some rule attributes (`RULE_ATTRIBUTES`), only those that changed."""
        for name, value in changes.items():
            setattr(self, name, value)

    @event("Archived")
    def archive(self, reason: str, by: str, timestamp: datetime) -> None:
        self.archived = True

    def geo_rule(self) -> GeoRule:
        return GeoRule.from_dict(self.geo)

    def weekly_schedule(self) -> WeeklySchedule:
        return WeeklySchedule.from_dict(self.schedule)

    def target_caps(self) -> Caps:
        return Caps.from_dict(self.caps)

    @property
    def is_rtb(self) -> bool:
        return self.rtb_url is not None
