"""Commands: imperative requests, as typed data. Set-up commands and the buyer's and
finance's commands on a call carry parsed values — money in integer cents, value objects
(`PayoutRule`, `GeoRule`, `WeeklySchedule`, `Caps`), roles and modes as their types — built
from raw input by one parsing layer, `handlers/parse.py`, which the API and the CLI share.
Their handlers check only what needs the store (existence, ownership, a bid against the
campaign's floor). The life of a call is recorded from the exchange's own values.

`by` names the principal (an API key id, "cli", "system") so every configuration event says
who made the change. `command_id`, when given, makes a command take effect at most once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from domain.api_key import Role
from domain.billing import PayoutRule
from domain.call_flags import EndedBy
from domain.call_state import (
    BidOutcomeKind,
    BidSource,
    Candidate,
    ExclusionReason,
    FailoverReason,
    NoBuyerReason,
)
from domain.campaign import Distribution
from domain.caps import Caps
from domain.consent import ConsentJson
from domain.geo import GeoRule
from domain.invariant import invariant
from domain.ivr import FailAction, IvrScript
from domain.limits import BUZZER_MARGIN_S, SHORT_CALL_S
from domain.quality import AutoPauseRule
from domain.recording import RecordingRule
from domain.schedule import WeeklySchedule
from domain.screening import Refusal, ScreeningJson, VelocityRule

# -- set-up ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterPublisher:
    name: str
    by: str
    command_id: str | None = None


@dataclass(frozen=True)
class RenamePublisher:
    publisher_id: str
    name: str
    by: str


@dataclass(frozen=True)
class SetPingLimit:
    """A publisher's ping rate limit: the fields given (None: unchanged)."""

    publisher_id: str
    rate_per_s: int | None
    burst: int | None
    by: str


@dataclass(frozen=True)
class RegisterBuyer:
    name: str
    time_zone: str
    credit_limit_cents: int
    market: str
    by: str
    command_id: str | None = None


@dataclass(frozen=True)
class DepositFunds:
    buyer_id: str
    amount_cents: int
    reference: str
    by: str
    command_id: str | None = None

    def __post_init__(self) -> None:
        invariant(self.amount_cents > 0, "a deposit is a positive amount")


@dataclass(frozen=True)
class ChangeCreditLimit:
    buyer_id: str
    credit_limit_cents: int
    by: str
    command_id: str | None = None


@dataclass(frozen=True)
class CreateCampaign:
    name: str
    vertical: str
    payout: PayoutRule
    duplicate_window_days: int
    distribution: Distribution
    min_bid_cents: int
    min_margin_cents: int
    allow_negative_margin: bool
    max_attempts: int
    bid_ttl_s: int
    rtb_deadline_ms: int
    market: str
    by: str
    command_id: str | None = None
    # screening (`domain.screening`), recorded by a RulesChanged after Created when not the
    # defaults
    exclude_toll_free: bool = False
    exclude_premium_rate: bool = False
    velocity: VelocityRule | None = None
    # traffic quality (`domain.call_flags`): rules newer than `Campaign.Created`
    buzzer_margin_s: int = BUZZER_MARGIN_S.default or 0
    short_call_s: int = SHORT_CALL_S.default or 0
    bill_buzzer_beaters: bool = False
    ivr: IvrScript | None = None  # questions asked before the auction (a rule change)
    recording: RecordingRule | None = None  # None: calls are not recorded
    keywords: dict[str, Any] | None = None  # newer than Campaign.Created: a RulesChanged


@dataclass(frozen=True)
class AllowPublisher:
    campaign_id: str
    publisher_id: str
    by: str


@dataclass(frozen=True)
class DisallowPublisher:
    """Stop a publisher sending pings for a campaign (the next ping on any worker honours it)."""

    campaign_id: str
    publisher_id: str
    by: str


@dataclass(frozen=True)
class CreateTarget:
    buyer_id: str
    campaign_id: str
    name: str
    destination: str  # an E.164 number or a SIP URI
    bid_cents: int | None  # a standing bid, or
    rtb_url: str | None  # a real-time bidding endpoint
    rtb_timeout_ms: int
    buffer_s: int
    geo: GeoRule
    schedule: WeeklySchedule
    caps: Caps
    priority: int
    weight: int
    by: str
    command_id: str | None = None
    requires_consent: bool = False
    requires_tags: Mapping[str, str | None] | None = None  # tags a ping must carry (a rule)
    whisper: str | None = None  # said to its agent before connecting

    def __post_init__(self) -> None:
        invariant(
            (self.bid_cents is None) != (self.rtb_url is None), "a standing bid or an rtb_url"
        )


@dataclass(frozen=True)
class SetStandingBid:
    target_id: str
    amount_cents: int
    by: str
    buyer_id: str | None = None  # when set, the target must belong to this buyer
    command_id: str | None = None


@dataclass(frozen=True)
class PauseTarget:
    target_id: str
    reason: str
    by: str
    buyer_id: str | None = None


@dataclass(frozen=True)
class ResumeTarget:
    target_id: str
    by: str
    buyer_id: str | None = None


# -- changes to the set-up (PATCH): every field optional, None = unchanged ----------------------


@dataclass(frozen=True)
class TargetChanges:
    """A target's rules to change, parsed; None keeps a rule. A standing bid and an rtb_url
    exclude each other: giving one switches the target to it (the other is cleared)."""

    name: str | None = None
    destination: str | None = None
    bid_cents: int | None = None
    rtb_url: str | None = None
    rtb_timeout_ms: int | None = None
    buffer_s: int | None = None
    geo: GeoRule | None = None
    schedule: WeeklySchedule | None = None
    # the caps to set, by their stored names (`daily_budget_cents`); a None value removes one
    caps: Mapping[str, int | None] | None = None
    priority: int | None = None
    weight: int | None = None
    paused: bool | None = None  # `status`: paused or active
    # the whole list of auto-pause rules, replaced (empty: never paused automatically)
    auto_pause: tuple[AutoPauseRule, ...] | None = None
    requires_consent: bool | None = None
    # the whole mapping of required tags, replaced (empty: none required)
    requires_tags: Mapping[str, str | None] | None = None
    whisper: str | None = None  # "" clears it

    def __post_init__(self) -> None:
        invariant(self.bid_cents is None or self.rtb_url is None, "a standing bid or an rtb_url")

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


@dataclass(frozen=True)
class ChangeTarget:
    target_id: str
    changes: TargetChanges
    by: str
    buyer_id: str | None = None  # when set, the target must belong to this buyer


@dataclass(frozen=True)
class ArchiveTarget:
    target_id: str
    reason: str
    by: str
    buyer_id: str | None = None


@dataclass(frozen=True)
class CampaignChanges:
    """A campaign's rules to change, parsed; None keeps a rule."""

    name: str | None = None
    vertical: str | None = None
    payout: PayoutRule | None = None
    duplicate_window_days: int | None = None
    distribution: Distribution | None = None
    min_bid_cents: int | None = None
    min_margin_cents: int | None = None
    allow_negative_margin: bool | None = None
    max_attempts: int | None = None
    bid_ttl_s: int | None = None
    rtb_deadline_ms: int | None = None
    exclude_toll_free: bool | None = None
    exclude_premium_rate: bool | None = None
    velocity: VelocityRule | None = None
    buzzer_margin_s: int | None = None
    short_call_s: int | None = None
    bill_buzzer_beaters: bool | None = None
    ivr: IvrScript | None = None  # the whole script, replaced (no questions: none asked)
    recording: RecordingRule | None = None
    keywords: dict[str, Any] | None = None  # {"phrases": [...]}, `domain.transcript`

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


@dataclass(frozen=True)
class ChangeCampaign:
    campaign_id: str
    changes: CampaignChanges
    by: str


@dataclass(frozen=True)
class ChangeBuyerProfile:
    buyer_id: str
    name: str | None
    time_zone: str | None
    by: str


@dataclass(frozen=True)
class SuspendPublisher:
    publisher_id: str
    reason: str
    by: str


@dataclass(frozen=True)
class ReinstatePublisher:
    publisher_id: str
    by: str


@dataclass(frozen=True)
class ProvisionNumber:
    number: str  # E.164
    campaign_id: str
    publisher_id: str
    source: str
    medium: str | None
    keyword: str | None
    by: str


@dataclass(frozen=True)
class CreateNumberPool:
    name: str
    campaign_id: str
    publisher_id: str
    numbers: tuple[str, ...]  # E.164, each once
    lease_ttl_s: int
    allowed_origins: tuple[str, ...]  # web origins whose pages may lease (CORS), normalised
    by: str
    command_id: str | None = None


@dataclass(frozen=True)
class IssueApiKey:
    role: Role
    owner_id: str | None
    key_hash: str
    label: str
    key_id: str
    by: str
    expires_at: datetime | None = None  # checked against the clock by the handler


@dataclass(frozen=True)
class RevokeApiKey:
    key_id: str
    by: str


@dataclass(frozen=True)
class SetApiKeyExpiry:
    key_id: str
    expires_at: datetime  # a time already past means "now" (checked by the handler)
    by: str


@dataclass(frozen=True)
class WarnApiKeyExpiry:
    """Tell a key's owner it expires within `warning_days` (once per expiry)."""

    key_id: str
    warning_days: int
    by: str


@dataclass(frozen=True)
class ExpireUnusedApiKey:
    """Expire a key unused since `last_used_at` for at least `unused_days`."""

    key_id: str
    last_used_at: datetime
    unused_days: int
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
    target_version: int | None = None  # the target's version whose rules made the bid


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
    consent: ConsentJson | None = None  # the caller's consent references, as sent
    # the facts the ping was screened on, and the screen's refusal when it was refused (then
    # there is no auction: no bids, no winner, `no_buyer_reason` SCREENED)
    screening: ScreeningJson | None = None
    screened: Refusal | None = None


@dataclass(frozen=True)
class RecordDisqualification:
    """A Twilio caller failed the campaign's IVR qualification: the ping (with the tags of
    the questions passed before) and the failure, recorded as one save; no auction."""

    call_id: str
    campaign_id: str
    publisher_id: str
    caller_hash: str
    geo: dict[str, Any]
    attribution: dict[str, Any]
    tags: dict[str, str]
    market: str
    question_id: str
    answer: str | None  # what `domain.ivr.judge` keeps of the answer
    action: FailAction
    campaign_version: int  # the campaign's version whose questions were asked
    consent: ConsentJson | None = None


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
    ended_by: EndedBy | None = None  # who hung up first (None: not reported)


@dataclass(frozen=True)
class ConvertCall:
    call_id: str
    value_cents: int | None  # what the conversion was worth, when the buyer says
    by: str
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


@dataclass(frozen=True)
class InviteUser:
    email: str  # normalised (domain.user.normal_email)
    role: Role
    owner_id: str | None
    invite_hash: str  # a keyed hash of the one-time token; the token is shown once
    by: str


@dataclass(frozen=True)
class SetPassword:
    """Accept an invite: the token's hash must match the open invite."""

    user_id: str
    invite_hash: str
    password_hash: str  # argon2, made at the edge


@dataclass(frozen=True)
class SignOutEverywhere:
    user_id: str
    by: str


@dataclass(frozen=True)
class DisableUser:
    user_id: str
    by: str


# -- webhooks ----------------------------------------------------------------------------------
# `owner_id` on a command acting on a webhook restricts it to that publisher's or buyer's
# webhooks (None: an admin acts on any). URLs are checked by the handlers against the
# deployment's outbound policy (webhooks.outbound), which the parsing layer does not know.


@dataclass(frozen=True)
class RegisterWebhook:
    owner_role: Role
    owner_id: str | None  # the key's publisher or buyer; None: an admin webhook
    url: str
    method: str  # WebhookMethod
    events: tuple[str, ...]  # WebhookEvent values, each once, as given
    description: str
    by: str


@dataclass(frozen=True)
class ChangeWebhook:
    """The fields given (None: unchanged); `paused` pauses or resumes."""

    webhook_id: str
    by: str
    owner_id: str | None = None
    url: str | None = None
    method: str | None = None
    events: tuple[str, ...] | None = None
    description: str | None = None
    paused: bool | None = None


@dataclass(frozen=True)
class RotateWebhookSecret:
    webhook_id: str
    by: str
    owner_id: str | None = None


@dataclass(frozen=True)
class RemoveWebhook:
    webhook_id: str
    by: str
    owner_id: str | None = None


# -- call recordings (issue 24, item 1) ------------------------------------------------------------


@dataclass(frozen=True)
class NoteRecordingAvailable:
    """The telephony has a call's recording to fetch (its recording-status callback)."""

    call_id: str
    recording_id: str
    recording_sid: str
    duration_s: int


@dataclass(frozen=True)
class RecordRecording:
    """A recording fetched and stored: its hash and size as the store computed them."""

    call_id: str
    recording_id: str
    sha256: str
    duration_s: int
    size_bytes: int
    location: str
    content_type: str


@dataclass(frozen=True)
class DeleteRecording:
    """A recording's bytes were deleted from the store (`reason`: "retention" or an admin's)."""

    call_id: str
    recording_id: str
    reason: str
    by: str


# -- call evidence -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordTranscript:
    """A recording's redacted transcript is stored: record it, and the campaign's phrases
    found in it (`handlers.evidence`). `text` is the stored text, whose hash is `sha256`."""

    call_id: str
    recording_id: str
    text: str
    sha256: str
    location: str
    engine: str
    engine_version: str
    redactions: int
    audio_ms: int
