"""The vocabulary and the state of a call's life: each set of words the call's events and the
exchange use, spelled once, and the frozen values the Call holds.

Every enum is a `StrEnum` whose values are the strings stored in the log and answered by the
API: a member *is* its string (`CallStatus.BILLED == "billed"`, `orjson.dumps` writes the
bare string), so events encode byte for byte as before and a stored string compares equal to
its member. Events keep plain strings in their fields (a decoded event holds `str`); the
commands take members.

The values (`Candidate`, `Route`, `Hold`, `Billing`, `Dispute`, `AuctionTerms`) are what the
Call's `apply()` builds from its events' JSON-shaped fields; `to_json()` gives back exactly
the JSON the call's state had as plain dicts (the same keys in the same order, no field
renamed or added), and `Candidate.to_json()` is what `AuctionDecided.ranking` stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:  # domain.campaign imports the billing rules, which import this module
    from domain.campaign import Distribution


class CallStatus(StrEnum):
    """Where a call is in its life (`domain.call.CALL_TRANSITIONS` says how it moves)."""

    PINGED = "pinged"
    DECIDED = "decided"
    NO_BUYER = "no_buyer"
    EXPIRED = "expired"
    REFUSED = "refused"
    POSTED = "posted"
    ROUTING = "routing"
    ANSWERED = "answered"
    FAILING_OVER = "failing_over"
    UNROUTED = "unrouted"
    COMPLETED = "completed"
    BILLED = "billed"
    NOT_BILLED = "not_billed"
    REVERSED = "reversed"
    DISQUALIFIED = "disqualified"  # failed the campaign's IVR qualification: no auction


class HoldStatus(StrEnum):
    """A hold on a buyer's funds, as the call owns it: pending, then posted or voided."""

    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"


class DisputeStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class FailoverReason(StrEnum):
    """Why a ringing call goes to the next bidder (the telephony's failed outcomes)."""

    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"


class TelephonyEvent(StrEnum):
    """What the telephony reports of a call: answered, completed, or a failover reason
    (the same words as `FailoverReason`; a unit test holds them together)."""

    ANSWERED = "answered"
    COMPLETED = "completed"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"

    @property
    def failover_reason(self) -> FailoverReason | None:
        """The failover this event asks for, or None (answered, completed)."""
        return FailoverReason(self.value) if self.value in _FAILOVER_VALUES else None


_FAILOVER_VALUES = frozenset(r.value for r in FailoverReason)


class BidOutcomeKind(StrEnum):
    """What one bidder did in an auction (one event each: BidReceived, BidRejected,
    BidTimedOut)."""

    RECEIVED = "received"
    REJECTED = "rejected"
    TIMED_OUT = "timed_out"


class BidSource(StrEnum):
    STANDING = "standing"  # a bid the buyer set beforehand through the API
    RTB = "rtb"  # a real-time bid from the buyer's own endpoint


class BillingReason(StrEnum):
    """The billing decision's reason: billable, or why not."""

    BILLABLE = "billable"
    NOT_ANSWERED = "not_answered"
    BLOCKED = "blocked"
    DUPLICATE = "duplicate"
    BELOW_BUFFER = "below_buffer"


class NoBuyerReason(StrEnum):
    """Why a ping found no buyer (`NoBuyerFound.reason`, the ping's answer)."""

    NO_ELIGIBLE_BUYER = "no_eligible_buyer"
    BLOCKED = "blocked"
    BELOW_FLOOR = "below_floor"
    TIMED_OUT = "timed_out"
    NO_BID = "no_bid"
    DUPLICATE = "duplicate"


class ExclusionReason(StrEnum):
    """Why a target could not bid or win: eligibility's exclusions (`excluded`) and the
    reservation's refusals (`skipped`)."""

    PAUSED = "paused"
    GEO = "geo"
    SCHEDULE = "schedule"
    CAP_CONCURRENCY = "cap_concurrency"
    CAP_HOURLY = "cap_hourly"
    CAP_DAILY = "cap_daily"
    CAP_MONTHLY = "cap_monthly"
    CAP_BUDGET = "cap_budget"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    DUPLICATE = "duplicate"
    CONSENT_MISSING = "consent_missing"  # the target requires consent; the ping had none
    TAGS_MISSING = "tags_missing"  # the target requires tags the ping lacks (`requires_tags`)
    ARCHIVED = "archived"  # a failover skips an archived target


class PostRefusal(StrEnum):
    """Why a post was refused (`PostRefused.reason`)."""

    BLOCKED = "blocked"


# -- the call's state ----------------------------------------------------------------------------


class CandidateJson(TypedDict):
    """A ranked candidate as `AuctionDecided.ranking` stores it (keys in this order)."""

    target_id: str
    buyer_id: str
    price_cents: int
    payout_cents: int
    destination: str
    buffer_s: int
    priority: int
    weight: int


@dataclass(frozen=True, slots=True)
class Candidate:
    """A bidder as the auction ranked it: the price it pays, the payout the publisher is
    offered, where the call goes and the tie-breakers it was ranked with."""

    target_id: str
    buyer_id: str
    price_cents: int
    payout_cents: int
    destination: str
    buffer_s: int
    priority: int
    weight: int

    def to_json(self) -> CandidateJson:
        return {
            "target_id": self.target_id,
            "buyer_id": self.buyer_id,
            "price_cents": self.price_cents,
            "payout_cents": self.payout_cents,
            "destination": self.destination,
            "buffer_s": self.buffer_s,
            "priority": self.priority,
            "weight": self.weight,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Candidate:
        return cls(
            data["target_id"],
            data["buyer_id"],
            data["price_cents"],
            data["payout_cents"],
            data["destination"],
            data["buffer_s"],
            data["priority"],
            data["weight"],
        )


@dataclass(frozen=True, slots=True)
class Route:
    """Where the call goes, at what terms, on which hold of the buyer's funds.

    A route awarded by the auction and not routed yet carries the winner's tie-breakers as
    ranked (`priority`, `weight`): its JSON is the ranked candidate plus the hold, as it always
    was; once routed they are None and its JSON is `CallRouted`'s fields."""

    target_id: str
    buyer_id: str
    destination: str
    price_cents: int
    payout_cents: int
    buffer_s: int
    hold_id: str
    priority: int | None = None
    weight: int | None = None

    @classmethod
    def award(cls, winner: Candidate, hold_id: str) -> Route:
        return cls(
            winner.target_id,
            winner.buyer_id,
            winner.destination,
            winner.price_cents,
            winner.payout_cents,
            winner.buffer_s,
            hold_id,
            winner.priority,
            winner.weight,
        )

    def to_json(self) -> dict[str, Any]:
        if self.priority is not None or self.weight is not None:
            return {
                "target_id": self.target_id,
                "buyer_id": self.buyer_id,
                "price_cents": self.price_cents,
                "payout_cents": self.payout_cents,
                "destination": self.destination,
                "buffer_s": self.buffer_s,
                "priority": self.priority,
                "weight": self.weight,
                "hold_id": self.hold_id,
            }
        return {
            "target_id": self.target_id,
            "buyer_id": self.buyer_id,
            "destination": self.destination,
            "price_cents": self.price_cents,
            "payout_cents": self.payout_cents,
            "buffer_s": self.buffer_s,
            "hold_id": self.hold_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Route:
        return cls(
            data["target_id"],
            data["buyer_id"],
            data["destination"],
            data["price_cents"],
            data["payout_cents"],
            data["buffer_s"],
            data["hold_id"],
            data.get("priority"),
            data.get("weight"),
        )


@dataclass(frozen=True, slots=True)
class Hold:
    """A hold on a buyer's funds, as the call owns it."""

    buyer_id: str
    target_id: str
    amount_cents: int
    payout_cents: int
    status: HoldStatus

    def with_status(self, status: HoldStatus) -> Hold:
        return replace(self, status=status)

    def to_json(self) -> dict[str, Any]:
        return {
            "buyer_id": self.buyer_id,
            "target_id": self.target_id,
            "amount_cents": self.amount_cents,
            "payout_cents": self.payout_cents,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class Billing:
    """The call's billing decision as recorded (not billable: no money, and no hold when the
    call was never answered by anyone)."""

    billable: bool
    reason: BillingReason
    hold_id: str | None
    buyer_id: str | None
    revenue_cents: int
    payout_cents: int
    margin_cents: int

    def to_json(self) -> dict[str, Any]:
        return {
            "billable": self.billable,
            "reason": self.reason,
            "hold_id": self.hold_id,
            "buyer_id": self.buyer_id,
            "revenue_cents": self.revenue_cents,
            "payout_cents": self.payout_cents,
            "margin_cents": self.margin_cents,
        }


@dataclass(frozen=True, slots=True)
class Dispute:
    status: DisputeStatus
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class AuctionTerms:
    """What the auction was decided under, so replay can run it again (the ranking, the bids
    and the winner are in the events)."""

    rule_version: int
    mode: Distribution
    seed: int
    floor_cents: int
    rr_cursor: int

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_version": self.rule_version,
            "mode": self.mode,
            "seed": self.seed,
            "floor_cents": self.floor_cents,
            "rr_cursor": self.rr_cursor,
        }
