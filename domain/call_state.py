"""The vocabulary of a call's life: each set of words the call's events and the exchange use,
spelled once.

Every enum is a `StrEnum` whose values are the strings stored in the log and answered by the
API: a member *is* its string (`CallStatus.BILLED == "billed"`, `orjson.dumps` writes the
bare string), so events encode byte for byte as before and a stored string compares equal to
its member. Events keep plain strings in their fields (a decoded event holds `str`); the
commands take members.
"""

from __future__ import annotations

from enum import StrEnum


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


class PostRefusal(StrEnum):
    """Why a post was refused (`PostRefused.reason`)."""

    BLOCKED = "blocked"
