"""Commands: imperative requests, as plain data. Money arrives as decimal strings (the API's
form) or integer cents (from the exchange), never floats; handlers validate everything.

`by` names the principal (an API key id, "cli", "system") so every configuration event says
who made the change. `command_id`, when given, makes a command take effect at most once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.call_state import (
    BidOutcomeKind,
    BidSource,
    Candidate,
    ExclusionReason,
    FailoverReason,
    NoBuyerReason,
)
from domain.campaign import Distribution

# -- set-up ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterPublisher:
    name: str
    by: str
    command_id: str | None = None


@dataclass(frozen=True)
class RegisterBuyer:
    name: str
    time_zone: str
    by: str
    credit_limit: str = "0.00"
    market: str = "main"
    command_id: str | None = None


@dataclass(frozen=True)
class DepositFunds:
    buyer_id: str
    amount: str
    reference: str
    by: str
    command_id: str | None = None


@dataclass(frozen=True)
class ChangeCreditLimit:
    buyer_id: str
    credit_limit: str
    by: str
    command_id: str | None = None


@dataclass(frozen=True)
class CreateCampaign:
    name: str
    vertical: str
    publisher_payout: dict[str, Any]
    by: str
    duplicate_window_days: int = 30
    distribution: str = "auction"
    min_bid: str | None = None
    min_margin: str = "0.00"
    allow_negative_margin: bool = False
    max_attempts: int = 3
    bid_ttl_s: int = 60
    rtb_deadline_ms: int = 250
    market: str = "main"
    command_id: str | None = None


@dataclass(frozen=True)
class AllowPublisher:
    campaign_id: str
    publisher_id: str
    by: str


@dataclass(frozen=True)
class CreateTarget:
    buyer_id: str
    campaign_id: str
    name: str
    destination: str
    by: str
    bid: str | None = None
    rtb_url: str | None = None
    rtb_timeout_ms: int = 150
    buffer_s: int = 90
    geo: dict[str, Any] = field(default_factory=dict)
    schedule: dict[str, Any] | None = None
    caps: dict[str, Any] = field(default_factory=dict)
    priority: int = 0
    weight: int = 1
    command_id: str | None = None


@dataclass(frozen=True)
class SetStandingBid:
    target_id: str
    amount: str
    by: str
    buyer_id: str | None = None  # when set, the target must belong to this buyer
    command_id: str | None = None


@dataclass(frozen=True)
class PauseTarget:
    target_id: str
    by: str
    reason: str = ""
    buyer_id: str | None = None


@dataclass(frozen=True)
class ResumeTarget:
    target_id: str
    by: str
    buyer_id: str | None = None


@dataclass(frozen=True)
class ProvisionNumber:
    number: str
    campaign_id: str
    publisher_id: str
    source: str
    by: str
    medium: str | None = None
    keyword: str | None = None


@dataclass(frozen=True)
class CreateNumberPool:
    name: str
    campaign_id: str
    publisher_id: str
    numbers: tuple[str, ...]
    by: str
    lease_ttl_s: int = 1800
    command_id: str | None = None
    allowed_origins: tuple[str, ...] = ()  # web origins whose pages may lease (CORS)


@dataclass(frozen=True)
class IssueApiKey:
    role: str
    owner_id: str | None
    key_hash: str
    label: str
    by: str
    key_id: str | None = None


@dataclass(frozen=True)
class RevokeApiKey:
    key_id: str
    by: str


@dataclass(frozen=True)
class BlockCaller:
    caller_hash: str
    reason: str
    by: str


@dataclass(frozen=True)
class UnblockCaller:
    caller_hash: str
    by: str


# -- the life of a call --------------------------------------------------------------------------


@dataclass(frozen=True)
class BidOutcome:
    """What one bidder did in an auction: `received`, `rejected` or `timed_out`."""

    target_id: str
    buyer_id: str
    outcome: BidOutcomeKind
    amount_cents: int | None = None
    reason: str = ""  # a rejection's reason (below_floor, no_bid, malformed:…, http_…)
    source: BidSource = BidSource.STANDING
    latency_ms: int = 0
    timeout_ms: int = 0
    priority: int = 0
    weight: int = 1


@dataclass(frozen=True)
class RecordAuction:
    """Everything the exchange learned and decided for one ping, recorded as one save."""

    call_id: str
    campaign_id: str
    publisher_id: str
    caller_hash: str
    geo: dict[str, Any]
    attribution: dict[str, Any]
    tags: dict[str, str]
    market: str
    bids: tuple[BidOutcome, ...]
    rule_version: int
    mode: Distribution
    seed: int
    floor_cents: int
    rr_cursor: int
    ranking: tuple[Candidate, ...]
    excluded: dict[str, ExclusionReason]
    skipped: tuple[tuple[str, ExclusionReason], ...]
    winner_target_id: str | None
    no_buyer_reason: NoBuyerReason | None
    hold_id: str | None
    expires_at: datetime | None
    # The campaign's version the exchange decided on: the handler's check of the campaign's
    # publishers reads it at this version or newer (read-your-writes).
    campaign_version: int
    # True when the exchange minted call_id for this ping (it cannot be stored yet, so the
    # handler skips looking it up); False for an id that came from outside.
    fresh_call_id: bool = False


@dataclass(frozen=True)
class ExpirePing:
    call_id: str


@dataclass(frozen=True)
class PostCall:
    call_id: str
    publisher_id: str | None = None  # when set, the call must be this publisher's


@dataclass(frozen=True)
class RecordAnswer:
    call_id: str
    # when the telephony says it happened (checked against the tolerance by the caller);
    # None: now. The same for FailOver and CompleteCall (domain/reported_time.py).
    at: datetime | None = None


@dataclass(frozen=True)
class FailOver:
    call_id: str
    reason: FailoverReason
    next_target_id: str | None
    next_hold_id: str | None
    skipped: tuple[tuple[str, ExclusionReason], ...] = ()
    at: datetime | None = None


@dataclass(frozen=True)
class CompleteCall:
    call_id: str
    duration_s: int
    at: datetime | None = None


@dataclass(frozen=True)
class ConvertCall:
    call_id: str
    by: str
    value: str | None = None
    buyer_id: str | None = None


@dataclass(frozen=True)
class DisputeCall:
    call_id: str
    reason: str
    by: str
    buyer_id: str | None = None
    command_id: str | None = None


@dataclass(frozen=True)
class ResolveDispute:
    call_id: str
    dispute_id: str
    accept: bool
    note: str
    by: str
