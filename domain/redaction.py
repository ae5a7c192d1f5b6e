"""Who may see what: one table of every event type × field × audience, and of every column of
the calls projection and of the reports. Timelines, lists and reports read it (and webhooks and
portal pages will); pure — no HTTP, no SQL.

Audiences are relative to a call, not bare roles:

* **internal** — admin, finance and analyst keys: everything;
* **publisher** — the call's publisher: never a buyer's identity, bid, price, revenue, margin,
  destination, target, failover target or conversion value;
* **buyer** — the buyer an event concerns (its bid, the decision it won, its route, failover,
  bill, and the conversion or dispute on the call routed to it): never the publisher's
  identity, payout or attribution, nor another buyer's ids;
* **other buyer** — a buyer of the same call that the event does not concern: it sees the
  call's own facts only (the ping without the publisher), never another buyer's event.

A buyer "of a call" is one the call was decided for or routed to; no one else sees the call.
Whatever the table does not name — an unknown event type, field or column — only internal
audiences see (fail closed). Events of every other aggregate are internal only for now: they
are named in `INTERNAL_EVENTS`, so a new one must be decided as well.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from domain.anomaly import CampaignTraffic
from domain.api_key import ApiKey, Role
from domain.blocklist import BlockedCaller
from domain.buyer import Buyer
from domain.call import Call
from domain.caller_history import CallerHistory
from domain.campaign import Campaign
from domain.catalog import ENVELOPE_FIELDS, Reads, topic_of
from domain.invariant import invariant
from domain.numbers import NumberPool, TrackingNumber
from domain.publisher import Publisher
from domain.rate_limits import RateLimitReport
from domain.receipt import CommandReceipt
from domain.saved_query import SavedQueries
from domain.scoring_model import ScoringModels
from domain.target import Target
from domain.user import User
from domain.webhook import Webhook


class Audience(StrEnum):
    INTERNAL = "internal"
    PUBLISHER = "publisher"
    BUYER = "buyer"
    OTHER_BUYER = "other_buyer"


INTERNAL_ROLES = frozenset({Role.ADMIN, Role.FINANCE, Role.ANALYST})
Audiences = frozenset[Audience]


def _to(*audiences: Audience) -> Audiences:
    """Internal audiences see everything; a rule names who else may."""
    return frozenset({Audience.INTERNAL, *audiences})


ONLY_INTERNAL = _to()
PUBLISHER, BUYER, OTHER_BUYER = Audience.PUBLISHER, Audience.BUYER, Audience.OTHER_BUYER


class Viewer(Protocol):
    """Who is looking: a role and, for a publisher or a buyer, its own id (an API key's
    principal, a portal user, a webhook's subscriber)."""

    @property
    def role(self) -> str: ...

    @property
    def owner_id(self) -> str | None: ...


class Concern(StrEnum):
    """Which buyer an event of a call is about."""

    CALL = "call"  # the call's own facts: no buyer's
    BUYER_ID = "buyer_id"  # the buyer the event names in `buyer_id`
    WINNER = "winner"  # the auction's winner (`winner_buyer_id`)
    HOLDER = "holder"  # the buyer whose hold the event names (`hold_id`)
    ROUTED = "routed"  # the buyer the call is routed to then (after the decision, its winner)


@dataclass(frozen=True)
class EventRule:
    concerns: Concern
    seen_by: Audiences  # who sees the event at all (its envelope: id, version, time)
    fields: Mapping[str, Audiences]  # who sees each field of it

    def __post_init__(self) -> None:
        for name, audiences in self.fields.items():
            invariant(audiences <= self.seen_by, f"{name}: shown to one who never sees its event")


# -- the Call's events ---------------------------------------------------------------------------

_BID = _to(BUYER)  # a bid, its price and latency: the bidding buyer's alone
CALL_EVENTS: dict[type, EventRule] = {
    Call.PingReceived: EventRule(
        Concern.CALL,
        _to(PUBLISHER, OTHER_BUYER),
        {
            "campaign_id": _to(PUBLISHER, OTHER_BUYER),
            "publisher_id": _to(PUBLISHER),
            "caller_hash": _to(PUBLISHER, OTHER_BUYER),
            "geo": _to(PUBLISHER, OTHER_BUYER),
            "attribution": _to(PUBLISHER),
            "tags": _to(PUBLISHER),
            "market": ONLY_INTERNAL,  # the exchange's partition of its hot state
            # the caller's consent references (TCPA evidence): the publisher sent them, and
            # every buyer the call was decided for or routed to bought the call on them
            "consent": _to(PUBLISHER, OTHER_BUYER),
            # the facts it was screened on (the number's classification, the velocity
            # count): the publisher's traffic, no buyer's business
            "screening": _to(PUBLISHER),
        },
    ),
    Call.PingScreened: EventRule(
        Concern.CALL,
        _to(PUBLISHER),
        {
            "screen": _to(PUBLISHER),
            "reason": _to(PUBLISHER),
            "rule_version": _to(PUBLISHER),
            "facts": _to(PUBLISHER),
        },
    ),
    Call.BidReceived: EventRule(
        Concern.BUYER_ID,
        _BID,
        {
            "target_id": _BID,
            "buyer_id": _BID,
            "amount_cents": _BID,
            "source": _BID,
            "latency_ms": _BID,
            "priority": _BID,
            "weight": _BID,
            "target_version": _BID,
        },
    ),
    Call.BidRejected: EventRule(
        Concern.BUYER_ID,
        _BID,
        {
            "target_id": _BID,
            "buyer_id": _BID,
            "amount_cents": _BID,
            "reason": _BID,
            "latency_ms": _BID,
        },
    ),
    Call.BidTimedOut: EventRule(
        Concern.BUYER_ID,
        _BID,
        {"target_id": _BID, "buyer_id": _BID, "timeout_ms": _BID, "latency_ms": _BID},
    ),
    Call.AuctionDecided: EventRule(
        Concern.WINNER,
        _to(PUBLISHER, BUYER),
        {
            "rule_version": _to(PUBLISHER, BUYER),
            "mode": _to(PUBLISHER, BUYER),
            "seed": ONLY_INTERNAL,
            "floor_cents": ONLY_INTERNAL,  # the floor follows from payout and margin
            "rr_cursor": ONLY_INTERNAL,
            "ranking": ONLY_INTERNAL,  # every candidate: other buyers' targets and prices
            "winner_target_id": _to(BUYER),
            "winner_buyer_id": _to(BUYER),
            "price_cents": _to(BUYER),
            "payout_cents": _to(PUBLISHER),
            "hold_id": _to(BUYER),
            "expires_at": _to(PUBLISHER, BUYER),
            "excluded": ONLY_INTERNAL,
            "skipped": ONLY_INTERNAL,
            "campaign_version": _to(PUBLISHER, BUYER),  # the public campaign's, as rule_version
        },
    ),
    Call.NoBuyerFound: EventRule(
        Concern.CALL,
        _to(PUBLISHER),
        {"reason": _to(PUBLISHER), "excluded": ONLY_INTERNAL, "skipped": ONLY_INTERNAL},
    ),
    # a caller who failed the campaign's IVR questions: the publisher's call, no buyer's
    Call.QualificationFailed: EventRule(
        Concern.CALL,
        _to(PUBLISHER),
        {
            "question_id": _to(PUBLISHER),
            "answer": _to(PUBLISHER),
            "action": _to(PUBLISHER),
            "rule_version": _to(PUBLISHER),
            "campaign_version": _to(PUBLISHER),
        },
    ),
    Call.PingExpired: EventRule(Concern.HOLDER, _to(PUBLISHER, BUYER), {"hold_id": _to(BUYER)}),
    Call.PostRefused: EventRule(
        Concern.HOLDER,
        _to(PUBLISHER, BUYER),
        {"reason": _to(PUBLISHER, BUYER), "hold_id": _to(BUYER)},
    ),
    Call.CallPosted: EventRule(Concern.ROUTED, _to(PUBLISHER, BUYER), {}),
    Call.CallRouted: EventRule(
        Concern.BUYER_ID,
        _to(PUBLISHER, BUYER),
        {
            "attempt": _to(PUBLISHER, BUYER),
            "target_id": _to(BUYER),
            "buyer_id": _to(BUYER),
            "destination": _to(BUYER),
            "price_cents": _to(BUYER),
            "payout_cents": _to(PUBLISHER),
            "buffer_s": _to(BUYER),
            "hold_id": _to(BUYER),
        },
    ),
    Call.CallAnswered: EventRule(
        Concern.ROUTED, _to(PUBLISHER, BUYER), {"attempt": _to(PUBLISHER, BUYER)}
    ),
    Call.CallFailedOver: EventRule(
        Concern.HOLDER,
        _to(PUBLISHER, BUYER),
        {
            "attempt": _to(PUBLISHER, BUYER),
            "reason": _to(PUBLISHER, BUYER),
            "target_id": _to(BUYER),
            "hold_id": _to(BUYER),
            "next_target_id": ONLY_INTERNAL,  # the next buyer's target
            "skipped": ONLY_INTERNAL,
        },
    ),
    Call.CallCompleted: EventRule(
        Concern.ROUTED,
        _to(PUBLISHER, BUYER),
        {
            "duration_s": _to(PUBLISHER, BUYER),
            "answered": _to(PUBLISHER, BUYER),
            "ended_by": _to(PUBLISHER, BUYER),
        },
    ),
    # the call's traffic-quality flags: evidence for both parties (a dispute's, a review's)
    Call.CallFlagged: EventRule(
        Concern.ROUTED,
        _to(PUBLISHER, BUYER),
        {
            "flags": _to(PUBLISHER, BUYER),
            "rule_version": _to(PUBLISHER, BUYER),
            "ended_by": _to(PUBLISHER, BUYER),
            "duration_s": _to(PUBLISHER, BUYER),
            "buffer_s": _to(BUYER),  # as on CallRouted and the bill
            "margin_s": _to(PUBLISHER, BUYER),
            "short_call_s": _to(PUBLISHER, BUYER),
        },
    ),
    Call.CallBilled: EventRule(
        Concern.BUYER_ID,
        _to(PUBLISHER, BUYER),
        {
            "hold_id": _to(BUYER),
            "buyer_id": _to(BUYER),
            "target_id": _to(BUYER),
            "revenue_cents": _to(BUYER),
            "payout_cents": _to(PUBLISHER),
            "margin_cents": ONLY_INTERNAL,
            "duration_s": _to(PUBLISHER, BUYER),
            "buffer_s": _to(BUYER),
            "rules_version": _to(PUBLISHER, BUYER),
        },
    ),
    Call.CallNotBilled: EventRule(
        Concern.ROUTED,
        _to(PUBLISHER, BUYER),
        {
            "reason": _to(PUBLISHER, BUYER),
            "hold_id": _to(BUYER),
            "buyer_id": _to(BUYER),
            "duration_s": _to(PUBLISHER, BUYER),
            "buffer_s": _to(BUYER),
            "duplicate_of": _to(BUYER),  # an earlier call billed to the same buyer
            "blocked": _to(PUBLISHER, BUYER),
            "rules_version": _to(PUBLISHER, BUYER),
        },
    ),
    Call.CallConverted: EventRule(
        Concern.ROUTED, _to(PUBLISHER, BUYER), {"value_cents": _to(BUYER), "by": _to(BUYER)}
    ),
    Call.CallDisputed: EventRule(
        Concern.ROUTED,
        _to(PUBLISHER, BUYER),
        {
            "dispute_id": _to(PUBLISHER, BUYER),
            "reason": _to(BUYER),
            "by": _to(BUYER),
        },  # the buyer's own words
    ),
    Call.DisputeResolved: EventRule(
        Concern.ROUTED,
        _to(PUBLISHER, BUYER),
        {
            "dispute_id": _to(PUBLISHER, BUYER),
            "accepted": _to(PUBLISHER, BUYER),
            "note": _to(BUYER),
            "reversal_transfer_id": _to(BUYER),
            "by": ONLY_INTERNAL,
        },
    ),
    # the telephony has a recording to fetch: the exchange's work queue, internal only (its
    # parties learn of the recording once it is stored, at `CallRecorded`; Twilio's
    # RecordingSid names it in the exchange's own Twilio account)
    Call.RecordingAvailable: EventRule(
        Concern.ROUTED,
        ONLY_INTERNAL,
        {
            "recording_id": ONLY_INTERNAL,
            "recording_sid": ONLY_INTERNAL,
            "duration_s": ONLY_INTERNAL,
        },
    ),
    # a call's recording: its facts (hash, length, type) to the call's publisher and the
    # buyer it was routed to — both may ask for the audio by the campaign's rule; where it
    # is stored only to internal audiences
    Call.CallRecorded: EventRule(
        Concern.ROUTED,
        _to(PUBLISHER, BUYER),
        {
            "recording_id": _to(PUBLISHER, BUYER),
            "sha256": _to(PUBLISHER, BUYER),
            "duration_s": _to(PUBLISHER, BUYER),
            "size_bytes": _to(PUBLISHER, BUYER),
            "location": ONLY_INTERNAL,
            "content_type": _to(PUBLISHER, BUYER),
        },
    ),
    Call.RecordingDeleted: EventRule(
        Concern.ROUTED,
        _to(PUBLISHER, BUYER),
        {
            "recording_id": _to(PUBLISHER, BUYER),
            "reason": _to(PUBLISHER, BUYER),
            "by": ONLY_INTERNAL,
        },
    ),
    # a lead score: its parties see the score and the model's version; the features it read
    # (the publisher's attribution, the IVR's answers, phrases of the recording) stay inside
    Call.CallScored: EventRule(
        Concern.ROUTED,
        _to(PUBLISHER, BUYER),
        {
            "score_bp": _to(PUBLISHER, BUYER),
            "model_version": _to(PUBLISHER, BUYER),
            "features": ONLY_INTERNAL,
        },
    ),
    # call evidence (EVIDENCE.md): the buyer the call is routed to sees its transcript's facts
    # and the phrases found; store locations stay internal
    Call.CallTranscribed: EventRule(
        Concern.ROUTED,
        _to(BUYER),
        {
            "recording_id": _to(BUYER),
            "transcript_sha256": _to(BUYER),
            "location": ONLY_INTERNAL,
            "engine": _to(BUYER),
            "engine_version": _to(BUYER),
            "redactions": _to(BUYER),
            "audio_ms": _to(BUYER),
        },
    ),
    Call.PhrasesSpotted: EventRule(
        Concern.ROUTED,
        _to(BUYER),
        {
            "recording_id": _to(BUYER),
            "phrases": _to(BUYER),
            "campaign_version": _to(BUYER),
            "rule_version": _to(BUYER),
        },
    ),
}

# Events of the other aggregates (set-up, accounts, keys, the block list, command receipts),
# class by class: never shown or sent to publishers or buyers (yet). Each is named, so that
# a new one is decided too.
INTERNAL_EVENTS: tuple[type, ...] = (
    ApiKey.Issued,
    ApiKey.Revoked,
    ApiKey.ExpirySet,
    ApiKey.ExpiryWarned,  # sent to its owner as a webhook (`webhooks.payloads.OWNED_SENT_FOR`)
    ApiKey.ExpiredUnused,
    User.Invited,
    User.PasswordSet,
    User.SignedOutEverywhere,
    User.Disabled,
    SavedQueries.Started,
    SavedQueries.Saved,
    SavedQueries.Removed,
    Webhook.Registered,
    Webhook.Changed,
    Webhook.SecretRotated,
    Webhook.Paused,
    Webhook.Resumed,
    Webhook.Removed,
    BlockedCaller.CallerBlocked,
    BlockedCaller.CallerReblocked,
    BlockedCaller.CallerUnblocked,
    Buyer.Registered,
    Buyer.CreditLimitChanged,
    Buyer.ProfileChanged,
    Buyer.FundsDeposited,
    Buyer.HoldPlaced,
    Buyer.HoldPosted,
    Buyer.HoldVoided,
    Buyer.TransferReversed,
    CallerHistory.Started,
    CallerHistory.CallerBilled,
    Campaign.Created,
    Campaign.PublisherAllowed,
    Campaign.PublisherDisallowed,
    Campaign.RulesChanged,
    CommandReceipt.CommandAccepted,
    NumberPool.Created,
    NumberPool.OriginsAllowed,
    Publisher.Registered,
    Publisher.Renamed,
    Publisher.Suspended,
    Publisher.Reinstated,
    Publisher.PingLimitSet,
    Publisher.FlaggedForReview,  # the anomaly watch: admins' (a `publisher.flagged` webhook)
    Publisher.ReviewCleared,
    CampaignTraffic.Started,
    CampaignTraffic.CallCounted,
    Target.Created,
    Target.StandingBidSet,
    Target.Paused,
    Target.Resumed,
    Target.RulesChanged,
    Target.Archived,
    Target.CallUnanswered,
    Target.AutoPaused,  # sent to its buyer as a webhook (`webhooks.payloads.OWNED_SENT_FOR`)
    TrackingNumber.Provisioned,
    ScoringModels.Started,
    ScoringModels.ModelTrained,
    ScoringModels.ModelActivated,
)
# Events of an owned aggregate sent to its owner (a webhook): the fields the owner sees (who
# recorded it — "system" — and the envelope aside); admins see them whole. The owner is named
# by the aggregate's first event: a target's buyer, an API key's owner (role and id).
OWNER_FIELDS: dict[type, frozenset[str]] = {
    Target.AutoPaused: frozenset({"reason", "call_ids", "rule", "rule_version"}),
    ApiKey.ExpiryWarned: frozenset({"expires_at", "warning_days"}),
}
OWNER_TOPICS: dict[str, frozenset[str]] = {topic_of(c): f for c, f in OWNER_FIELDS.items()}
_OWNER_OF = {topic_of(Target.Created): ("buyer_id", Role.BUYER), topic_of(ApiKey.Issued): None}


def owner_of(first_topic: str, first_state: Mapping[str, Any]) -> tuple[Role, str] | None:
    """An owned aggregate's owner (role, id) from its first event; None: no owner (an
    admin's key, say) or not an owned aggregate."""
    if first_topic not in _OWNER_OF:
        return None
    named = _OWNER_OF[first_topic]
    if named is not None:
        field_name, role = named
        return role, first_state[field_name]
    owner_id = first_state.get("owner_id")
    return None if owner_id is None else (Role(first_state["role"]), owner_id)


def redact_owned(
    viewer: Viewer, owner: tuple[Role, str] | None, topic: str, state: Mapping[str, Any]
) -> dict[str, Any] | None:
    """An owned aggregate's event as the viewer may see it: admins whole, its owner the
    fields of `OWNER_FIELDS`, anyone else nothing (fail closed: an event not in the table is
    admins' only)."""
    if viewer.role == Role.ADMIN:
        return dict(state)
    shown = OWNER_TOPICS.get(topic)
    if shown is None or owner is None or (viewer.role, viewer.owner_id) != owner:
        return None
    return {k: v for k, v in state.items() if k in ENVELOPE_FIELDS or k in shown}


# Events of no call that one publisher may see: those naming it in `publisher_id` (its pings
# refused over its rate limit), each field shown to it.
_REFUSED_FIELDS = ("publisher_id", "refused", "since_at", "rate_per_s", "burst", "reason")
PUBLISHER_EVENTS: dict[type, EventRule] = {
    RateLimitReport.PingsRefused: EventRule(
        Concern.CALL, _to(PUBLISHER), {name: _to(PUBLISHER) for name in _REFUSED_FIELDS}
    ),
}
# The table as a reader of the log: every event has a rule, of its own or internal only.
READS = Reads(
    "domain.redaction",
    handles=(*CALL_EVENTS, *PUBLISHER_EVENTS, *INTERNAL_EVENTS),
    ignores=(),
)

EVENT_RULES: dict[str, EventRule] = {
    topic_of(cls): rule for cls, rule in (CALL_EVENTS | PUBLISHER_EVENTS).items()
}
INTERNAL_TOPICS = frozenset(topic_of(cls) for cls in INTERNAL_EVENTS)
_DECIDED = topic_of(Call.AuctionDecided)
_ROUTED = topic_of(Call.CallRouted)
_PINGED = topic_of(Call.PingReceived)


# -- a call's parties, as its events name them ---------------------------------------------------


@dataclass(frozen=True)
class CallContext:
    """What a call's events so far say about its parties: its publisher, the buyer it is
    routed to, and whose each hold is (every buyer of the call holds one)."""

    publisher_id: str | None = None
    routed_buyer_id: str | None = None
    hold_buyers: Mapping[str, str] = field(default_factory=dict)

    @property
    def buyers(self) -> frozenset[str]:
        return frozenset(self.hold_buyers.values())

    def after(self, topic: str, state: Mapping[str, Any]) -> CallContext:
        if topic == _PINGED:
            return replace(self, publisher_id=state["publisher_id"])
        if topic in (_DECIDED, _ROUTED):
            buyer_id = state["winner_buyer_id" if topic == _DECIDED else "buyer_id"]
            holds = {**self.hold_buyers, state["hold_id"]: buyer_id}
            return replace(self, routed_buyer_id=buyer_id, hold_buyers=holds)
        return self

    @classmethod
    def of(cls, events: Sequence[tuple[str, Mapping[str, Any]]]) -> CallContext:
        context = cls()
        for topic, state in events:
            context = context.after(topic, state)
        return context

    def concerned_buyer(self, concern: Concern, state: Mapping[str, Any]) -> str | None:
        if concern is Concern.BUYER_ID:
            return state.get("buyer_id")
        if concern is Concern.WINNER:
            return state.get("winner_buyer_id")
        if concern is Concern.HOLDER:
            return self.hold_buyers.get(state.get("hold_id") or "")
        if concern is Concern.ROUTED:
            return self.routed_buyer_id
        return None


def may_see_call(viewer: Viewer, call: CallContext) -> bool:
    """Internal keys see every call; a publisher its own; a buyer those decided for or routed
    to it."""
    if viewer.role in INTERNAL_ROLES:
        return True
    if viewer.owner_id is None:
        return False
    if viewer.role == Role.PUBLISHER:
        return call.publisher_id == viewer.owner_id
    if viewer.role == Role.BUYER:
        return viewer.owner_id in call.buyers
    return False


def event_audience(
    viewer: Viewer, call: CallContext, before: CallContext, topic: str, state: Mapping[str, Any]
) -> Audience | None:
    """The viewer's audience for one event of a call (None: not a party to the call).
    `call` names the call's parties (its whole life, or so far), `before` is the context
    just before the event (whose the event is depends on it)."""
    if not may_see_call(viewer, call):
        return None
    if viewer.role in INTERNAL_ROLES:
        return Audience.INTERNAL
    if viewer.role == Role.PUBLISHER:
        return Audience.PUBLISHER
    rule = EVENT_RULES.get(topic)
    concerned = before.concerned_buyer(rule.concerns, state) if rule else None
    return Audience.BUYER if concerned == viewer.owner_id else Audience.OTHER_BUYER


def redact_event(audience: Audience, topic: str, state: Mapping[str, Any]) -> dict[str, Any] | None:
    """The fields of one event an audience may see, or None when it may not see the event."""
    rule = EVENT_RULES.get(topic)
    if rule is None:
        return dict(state) if audience is Audience.INTERNAL else None
    if audience not in rule.seen_by:
        return None
    return {
        name: value
        for name, value in state.items()
        if name in ENVELOPE_FIELDS or audience in rule.fields.get(name, ONLY_INTERNAL)
    }


def publisher_event(viewer: Viewer, topic: str, state: Mapping[str, Any]) -> dict[str, Any] | None:
    """An event of `PUBLISHER_EVENTS` as the viewer may see it: internal audiences all of it,
    the publisher it names its fields, anyone else nothing."""
    if viewer.role in INTERNAL_ROLES:
        return dict(state)
    if viewer.role != Role.PUBLISHER or viewer.owner_id != state.get("publisher_id"):
        return None
    return redact_event(Audience.PUBLISHER, topic, state)


def call_timeline(
    viewer: Viewer, events: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[tuple[str, dict[str, Any]]] | None:
    """The events of one call (`(topic, state)` in order) that the viewer may see, each with
    the fields it may see; None when the viewer is no party to the call."""
    call = CallContext.of(events)
    if not may_see_call(viewer, call):
        return None
    shown: list[tuple[str, dict[str, Any]]] = []
    before = CallContext()
    for topic, state in events:
        audience = event_audience(viewer, call, before, topic, state)
        kept = redact_event(audience, topic, state) if audience is not None else None
        if kept is not None:
            shown.append((topic, kept))
        before = before.after(topic, state)
    return shown


# -- the calls projection (GET /v1/calls) ---------------------------------------------------------

# A row's audiences: its publisher, and its buyer (the one it was last routed to, who was
# billed and reported the conversion). Every column of the `calls` table has a rule.
CALL_COLUMNS: dict[str, Audiences] = {
    "call_id": _to(PUBLISHER, BUYER),
    "pinged_at": _to(PUBLISHER, BUYER),
    "campaign_id": _to(PUBLISHER, BUYER),
    "vertical": _to(PUBLISHER, BUYER),
    "publisher_id": _to(PUBLISHER),
    "caller_hash": _to(PUBLISHER, BUYER),
    "state": _to(PUBLISHER, BUYER),
    "zip": _to(PUBLISHER, BUYER),
    "source": _to(PUBLISHER),
    "medium": _to(PUBLISHER),
    "utm_campaign": _to(PUBLISHER),
    "keyword": _to(PUBLISHER),
    "tracking_number": _to(PUBLISHER),
    "bid_count": _to(PUBLISHER),  # how many buyers bid: the competition, not the buyer's to know
    "accepted": _to(PUBLISHER, BUYER),
    "no_buyer_reason": _to(PUBLISHER),
    "buyer_id": _to(BUYER),
    "target_id": _to(BUYER),
    "price_cents": _to(BUYER),
    "payout_offer_cents": _to(PUBLISHER),
    "expired": _to(PUBLISHER, BUYER),
    "post_refused_reason": _to(PUBLISHER, BUYER),
    "posted": _to(PUBLISHER, BUYER),
    "posted_at": _to(PUBLISHER, BUYER),
    "attempts": _to(PUBLISHER, BUYER),
    "answered": _to(PUBLISHER, BUYER),
    "completed_at": _to(PUBLISHER, BUYER),
    "duration_s": _to(PUBLISHER, BUYER),
    "billed": _to(PUBLISHER, BUYER),
    "not_billed_reason": _to(PUBLISHER, BUYER),
    "revenue_cents": _to(BUYER),
    "payout_cents": _to(PUBLISHER),
    "margin_cents": ONLY_INTERNAL,
    "converted": _to(PUBLISHER, BUYER),
    "conversion_value_cents": _to(BUYER),
    "disputed": _to(PUBLISHER, BUYER),
    "reversed": _to(PUBLISHER, BUYER),
    # the caller's consent references (as `PingReceived.consent`): the publisher sent them,
    # the call's buyer bought the call on them
    "consent_trustedform_cert_url": _to(PUBLISHER, BUYER),
    "consent_jornaya_leadid": _to(PUBLISHER, BUYER),
    "consent_text_version": _to(PUBLISHER, BUYER),
    "consented_at": _to(PUBLISHER, BUYER),
    # who hung up first, and the call's traffic-quality flags (`Call.CallFlagged`)
    "ended_by": _to(PUBLISHER, BUYER),
    "flags": _to(PUBLISHER, BUYER),
    # IVR qualification: a disqualified call had no auction, so no buyer
    "disqualified_question_id": _to(PUBLISHER),
    "disqualified_action": _to(PUBLISHER),
    # the call's latest lead score (`Call.CallScored`), as its timeline shows it
    "score_bp": _to(PUBLISHER, BUYER),
    "score_model_version": _to(PUBLISHER, BUYER),
}


def row_audience(viewer: Viewer, publisher_id: str | None, buyer_id: str | None) -> Audience | None:
    """The viewer's audience for a row owned by a publisher and (perhaps) a buyer."""
    if viewer.role in INTERNAL_ROLES:
        return Audience.INTERNAL
    if viewer.owner_id is None:
        return None
    if viewer.role == Role.PUBLISHER and publisher_id == viewer.owner_id:
        return Audience.PUBLISHER
    if viewer.role == Role.BUYER and buyer_id == viewer.owner_id:
        return Audience.BUYER
    return None


def redact_row(
    audience: Audience, row: Mapping[str, Any], columns: Mapping[str, Audiences]
) -> dict[str, Any]:
    return {k: v for k, v in row.items() if audience in columns.get(k, ONLY_INTERNAL)}


def call_row(viewer: Viewer, row: Mapping[str, Any]) -> dict[str, Any] | None:
    """A row of the calls projection as the viewer may see it (None: not its call). The row
    must carry `publisher_id` and `buyer_id` for the check."""
    audience = row_audience(viewer, row["publisher_id"], row["buyer_id"])
    return None if audience is None else redact_row(audience, row, CALL_COLUMNS)


# -- reports (GET /v1/reports/...) -----------------------------------------------------------------

# A publisher's reports cover its own calls, a buyer's the calls routed to it (the report
# queries filter on that); these say which reports each may run and which columns it sees.
REPORTS: dict[str, Audiences] = {
    "pnl": _to(PUBLISHER, BUYER),
    "attribution": _to(PUBLISHER),
    "funnel": _to(PUBLISHER, BUYER),
    "buyers": _to(BUYER),
    "repeat_callers": _to(PUBLISHER),
    "missed_calls": _to(PUBLISHER, BUYER),
    "heatmap": _to(PUBLISHER, BUYER),
    "scores": _to(PUBLISHER, BUYER),  # lead scores vs conversion: its own calls' scores
}
REPORT_COLUMNS: dict[str, Audiences] = {
    # dimensions
    "hour": _to(PUBLISHER, BUYER),
    "day": _to(PUBLISHER, BUYER),
    "day_of_week": _to(PUBLISHER, BUYER),
    "hour_of_day": _to(PUBLISHER, BUYER),
    "campaign_id": _to(PUBLISHER, BUYER),
    "vertical": _to(PUBLISHER, BUYER),
    "state": _to(PUBLISHER, BUYER),
    "publisher_id": _to(PUBLISHER),
    "buyer_id": _to(BUYER),
    "target_id": _to(BUYER),
    "name": _to(BUYER),  # the buyers report: the buyer's name
    "source": _to(PUBLISHER),
    "medium": _to(PUBLISHER),
    "utm_campaign": _to(PUBLISHER),
    "keyword": _to(PUBLISHER),
    "tracking_number": _to(PUBLISHER),
    # measures
    "pings": _to(PUBLISHER, BUYER),
    "bids": _to(PUBLISHER, BUYER),
    "wins": _to(PUBLISHER, BUYER),
    "posts": _to(PUBLISHER, BUYER),
    "answers": _to(PUBLISHER, BUYER),
    "calls": _to(PUBLISHER, BUYER),
    "billable": _to(PUBLISHER, BUYER),
    "missed": _to(PUBLISHER, BUYER),
    "missed_rate": _to(PUBLISHER, BUYER),
    "conversion_rate": _to(PUBLISHER, BUYER),
    "revenue_cents": _to(BUYER),
    "revenue_per_call_cents": _to(BUYER),
    "payout_cents": _to(PUBLISHER),
    "cost_per_call_cents": _to(PUBLISHER),
    "margin_cents": ONLY_INTERNAL,
    "bid_requests": _to(BUYER),
    "bid_rate": _to(BUYER),
    "win_rate": _to(BUYER),
    "timeouts": _to(BUYER),
    "answer_rate": _to(BUYER),
    "average_handle_s": _to(BUYER),
    # traffic quality (the buyers report): the buyer's own calls and targets
    "routed": _to(BUYER),
    "buzzer_beaters": _to(BUYER),
    "buzzer_beater_rate": _to(BUYER),
    "short_calls": _to(BUYER),
    "auto_pauses": _to(BUYER),
    "callers": _to(PUBLISHER),
    "repeat_callers": _to(PUBLISHER),
    "repeat_share": _to(PUBLISHER),
    "repeat_calls": _to(PUBLISHER),
    # the scores report (a call's score and model: its parties see them)
    "model_version": _to(PUBLISHER, BUYER),
    "score_decile": _to(PUBLISHER, BUYER),
    "conversions": _to(PUBLISHER, BUYER),
    "mean_score_bp": _to(PUBLISHER, BUYER),
}


def report_audience(viewer: Viewer) -> Audience | None:
    """A report is scoped to the viewer's own calls, so its audience is its role's."""
    if viewer.role in INTERNAL_ROLES:
        return Audience.INTERNAL
    if viewer.owner_id is None:
        return None
    return {"publisher": Audience.PUBLISHER, "buyer": Audience.BUYER}.get(viewer.role)


def may_run_report(audience: Audience, report: str) -> bool:
    return audience in REPORTS.get(report, ONLY_INTERNAL)


def may_see_column(audience: Audience, column: str) -> bool:
    return audience in REPORT_COLUMNS.get(column, ONLY_INTERNAL)
