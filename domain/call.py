"""A call: the life of one ping, from the auction to the billing decision and after.

    PingReceived → PingScreened (refused before the auction: `domain.screening`)
    PingReceived → BidReceived / BidRejected / BidTimedOut (one per bidder)
      → AuctionDecided (hold placed on the winner) | NoBuyerFound
      | QualificationFailed (a Twilio caller failed the campaign's IVR questions: no auction)
      → PingExpired (hold voided) | PostRefused (blocked caller: hold voided)
      | CallPosted → CallRouted(attempt 1)
          → CallAnswered → CallCompleted [→ CallFlagged] → CallBilled | CallNotBilled
          → CallFailedOver → CallRouted(attempt n+1) … | (none left) CallCompleted, CallNotBilled
      → CallConverted, CallDisputed → DisputeResolved
      → RecordingAvailable (Twilio has it: to fetch) → CallRecorded (the recording stored, its
        SHA-256) → RecordingDeleted (retention, admin)

The call owns its holds: it knows each hold's buyer, amount and status, and refuses to post
or void a hold twice (the buyer's account only moves the money). `AuctionDecided` records the
decision's rule version, mode, seed, floor and ranking, so replay can re-run it.

The statuses (`domain.call_state.CallStatus`) and the events that move a call between them are
one table, `CALL_TRANSITIONS`, at the end of this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

from domain.base import PPCXAggregate
from domain.billing import BILLING_RULES_VERSION
from domain.call_flags import FlagDecision
from domain.call_state import (
    AuctionTerms,
    BidSource,
    Billing,
    BillingReason,
    CallStatus,
    Candidate,
    CandidateJson,
    Dispute,
    DisputeStatus,
    FailoverReason,
    Hold,
    HoldStatus,
    NoBuyerReason,
    PostRefusal,
    Route,
)
from domain.campaign import Distribution
from domain.consent import ConsentJson
from domain.errors import Conflict, Expired, Refused
from domain.invariant import invariant, present
from domain.limits import SCORE_BP
from domain.recording import RECORDING_SID_RE, SHA256_RE, Recording, is_recording_key
from domain.scoring import FeaturesJson, is_model_version
from domain.screening import Refusal, ScreeningJson

RANKING_KEPT_MAX = 16  # candidates recorded for failover and replay (a bound on event size)
# A routed call lives at most this long: one that never reports its end is closed by the
# sweeper after it (not billed), and its hold and reservation are kept until then.
CALL_MAX_S = 4 * 3600
_NO_RECORDINGS: Mapping[str, Recording] = MappingProxyType({})
_EMPTY: Mapping[str, Any] = MappingProxyType({})


class Call(PPCXAggregate):
    if TYPE_CHECKING:  # state attributes (annotations here would make the library
        # generate an __init__ from them)
        campaign_id: str
        publisher_id: str
        caller_hash: str
        geo: dict[str, Any]
        attribution: dict[str, Any]
        tags: dict[str, str]
        market: str
        status: CallStatus
        bid_targets: list[str]
        bids_rejected: int
        bids_timed_out: int
        decision: AuctionTerms | None
        ranking: tuple[Candidate, ...]
        expires_at: datetime | None
        attempt: int
        route: Route | None
        holds: dict[str, Hold]
        answered: bool
        duration_s: int
        billing: Billing | None
        converted: bool
        conversion_value_cents: int | None
        disputes: dict[str, Dispute]
        recordings: Mapping[str, Recording]
        transcripts: Mapping[str, str]
        spotted: Mapping[str, list[str]]

    # newer than the first stored logs: a class-level default, so a call loaded from an older
    # snapshot has it too
    consent: ConsentJson | None = None
    screening: ScreeningJson | None = None  # the facts the ping was screened on
    # the flags of its completion (`domain.call_flags`: buzzer_beater, short_call), as
    # `CallFlagged` recorded them; none before that event, and in older logs
    flags: tuple[str, ...] = ()
    # its recordings by id (`CallRecorded`, `RecordingDeleted`); replaced, never changed in
    # place (not annotated here: the library would make it a field of the constructor)
    recordings = _NO_RECORDINGS
    # call evidence (EVIDENCE.md), by recording id: its transcript's location in the
    # transcripts store, the phrases spotted in it. Empty read-only defaults; applying an
    # event replaces the mapping, never mutates it.
    transcripts = _EMPTY
    spotted = _EMPTY
    # the recordings the telephony said it has (`RecordingAvailable`), by recording id: its
    # RecordingSid; the fetch queue in Redis is rebuilt from these facts when Redis is lost
    recordings_available = _EMPTY
    # the call's latest lead score (`CallScored`; None: never scored): basis points, the model
    # that gave it and the features it read
    score_bp: int | None = None
    score_model_version: str | None = None
    score_features: FeaturesJson | None = None

    # -- events -----------------------------------------------------------------------------
    class PingReceived(PPCXAggregate.Created):
        campaign_id: str
        publisher_id: str
        caller_hash: str
        geo: dict[str, Any]
        attribution: dict[str, Any]
        tags: dict[str, str]
        market: str
        # the caller's consent references, as the publisher sent them (None: none sent, or a
        # log older than the field)
        consent: ConsentJson | None = None
        # the facts the ping was screened on (`domain.screening`; None: an anonymous caller,
        # screening off, or a log older than the field)
        screening: ScreeningJson | None = None

        def apply(self, aggregate: Call) -> None:
            aggregate.campaign_id = self.campaign_id
            aggregate.publisher_id = self.publisher_id
            aggregate.caller_hash = self.caller_hash
            aggregate.geo = self.geo
            aggregate.attribution = self.attribution
            aggregate.tags = self.tags
            aggregate.market = self.market
            aggregate.consent = self.consent
            aggregate.screening = self.screening
            aggregate.status = CallStatus.PINGED
            aggregate.bid_targets = []
            aggregate.bids_rejected = 0
            aggregate.bids_timed_out = 0
            aggregate.decision = None
            aggregate.ranking = ()
            aggregate.expires_at = None
            aggregate.attempt = 0
            aggregate.route = None
            aggregate.holds = {}
            aggregate.answered = False
            aggregate.duration_s = 0
            aggregate.billing = None
            aggregate.converted = False
            aggregate.conversion_value_cents = None
            aggregate.disputes = {}

    class PingScreened(PPCXAggregate.Event):
        """Refused before the auction by a screen (`domain.screening.Screen`) of the rules'
        version, on the facts it names (the same as `PingReceived.screening`)."""

        screen: str  # a Screen
        reason: str
        rule_version: int
        facts: ScreeningJson

        def apply(self, aggregate: Call) -> None:
            aggregate.status = CallStatus.SCREENED

    class BidReceived(PPCXAggregate.Event):
        target_id: str
        buyer_id: str
        amount_cents: int
        source: str  # a BidSource
        latency_ms: int
        priority: int
        weight: int
        # the target's version whose rules made the bid (None: a log older than the field)
        target_version: int | None = None

        def apply(self, aggregate: Call) -> None:
            # targets only (strings): a call may carry a thousand bids, kept off the GC's books
            aggregate.bid_targets.append(self.target_id)

    class BidRejected(PPCXAggregate.Event):
        target_id: str
        buyer_id: str
        amount_cents: int | None
        reason: str
        latency_ms: int

        def apply(self, aggregate: Call) -> None:
            aggregate.bids_rejected += 1

    class BidTimedOut(PPCXAggregate.Event):
        target_id: str
        buyer_id: str
        timeout_ms: int
        latency_ms: int

        def apply(self, aggregate: Call) -> None:
            aggregate.bids_timed_out += 1

    class AuctionDecided(PPCXAggregate.Event):
        rule_version: int
        mode: str
        seed: int
        floor_cents: int
        rr_cursor: int
        ranking: list[CandidateJson]
        winner_target_id: str
        winner_buyer_id: str
        price_cents: int
        payout_cents: int
        hold_id: str
        expires_at: datetime
        excluded: dict[str, str]
        skipped: list[list[str]]
        # the campaign's version whose rules the auction used (None: a log older than the field)
        campaign_version: int | None = None

        def apply(self, aggregate: Call) -> None:
            aggregate.status = CallStatus.DECIDED
            aggregate.decision = AuctionTerms(
                self.rule_version,
                Distribution(self.mode),
                self.seed,
                self.floor_cents,
                self.rr_cursor,
            )
            aggregate.ranking = tuple(Candidate.from_json(c) for c in self.ranking)
            aggregate.expires_at = self.expires_at
            winner = next(c for c in aggregate.ranking if c.target_id == self.winner_target_id)
            aggregate.route = Route.award(winner, self.hold_id)
            aggregate.holds[self.hold_id] = Hold(
                self.winner_buyer_id,
                self.winner_target_id,
                self.price_cents,
                self.payout_cents,
                HoldStatus.PENDING,
            )

    class NoBuyerFound(PPCXAggregate.Event):
        reason: str
        excluded: dict[str, str]
        skipped: list[list[str]]

        def apply(self, aggregate: Call) -> None:
            aggregate.status = CallStatus.NO_BUYER

    class PingExpired(PPCXAggregate.Event):
        hold_id: str

        def apply(self, aggregate: Call) -> None:
            aggregate.status = CallStatus.EXPIRED
            aggregate.void(self.hold_id)

    class PostRefused(PPCXAggregate.Event):
        """The publisher posted the call, and the exchange refused to route it (the caller
        was put on the block list after the ping); the winner's hold is voided."""

        reason: str
        hold_id: str

        def apply(self, aggregate: Call) -> None:
            aggregate.status = CallStatus.REFUSED
            aggregate.void(self.hold_id)

    class CallPosted(PPCXAggregate.Event):
        def apply(self, aggregate: Call) -> None:
            aggregate.status = CallStatus.POSTED

    class CallRouted(PPCXAggregate.Event):
        attempt: int
        target_id: str
        buyer_id: str
        destination: str
        price_cents: int
        payout_cents: int
        buffer_s: int
        hold_id: str

        def apply(self, aggregate: Call) -> None:
            aggregate.status = CallStatus.ROUTING
            aggregate.attempt = self.attempt
            aggregate.route = Route(
                self.target_id,
                self.buyer_id,
                self.destination,
                self.price_cents,
                self.payout_cents,
                self.buffer_s,
                self.hold_id,
            )
            if self.hold_id not in aggregate.holds:
                aggregate.holds[self.hold_id] = Hold(
                    self.buyer_id,
                    self.target_id,
                    self.price_cents,
                    self.payout_cents,
                    HoldStatus.PENDING,
                )

    class CallAnswered(PPCXAggregate.Event):
        attempt: int

        def apply(self, aggregate: Call) -> None:
            aggregate.status = CallStatus.ANSWERED
            aggregate.answered = True

    class CallFailedOver(PPCXAggregate.Event):
        attempt: int
        reason: str
        target_id: str
        hold_id: str
        next_target_id: str | None
        skipped: list[list[str]]

        def apply(self, aggregate: Call) -> None:
            aggregate.void(self.hold_id)
            aggregate.status = (
                CallStatus.FAILING_OVER if self.next_target_id else CallStatus.UNROUTED
            )

    class CallCompleted(PPCXAggregate.Event):
        duration_s: int
        answered: bool
        # who hung up first, as the telephony reported it (`domain.call_flags.EndedBy`:
        # "caller" | "buyer"); None: not reported, or a log older than the field
        ended_by: str | None = None

        def apply(self, aggregate: Call) -> None:
            aggregate.status = CallStatus.COMPLETED
            aggregate.duration_s = self.duration_s

    class CallFlagged(PPCXAggregate.Event):
        """The completed call's traffic-quality flags (`domain.call_flags.flags_of`) and
        every input of the decision, recorded before its billing decision."""

        flags: list[str]
        rule_version: int
        ended_by: str | None
        duration_s: int
        buffer_s: int
        margin_s: int
        short_call_s: int

        def apply(self, aggregate: Call) -> None:
            aggregate.flags = tuple(self.flags)

    class CallBilled(PPCXAggregate.Event):
        hold_id: str
        buyer_id: str
        target_id: str
        revenue_cents: int
        payout_cents: int
        margin_cents: int
        duration_s: int
        buffer_s: int
        rules_version: int

        def apply(self, aggregate: Call) -> None:
            aggregate.status = CallStatus.BILLED
            hold_id = self.hold_id
            aggregate.holds[hold_id] = aggregate.holds[hold_id].with_status(HoldStatus.POSTED)
            aggregate.billing = Billing(
                True,
                BillingReason.BILLABLE,
                hold_id,
                self.buyer_id,
                self.revenue_cents,
                self.payout_cents,
                self.margin_cents,
            )

    class CallNotBilled(PPCXAggregate.Event):
        reason: str
        hold_id: str | None
        buyer_id: str | None
        duration_s: int
        buffer_s: int
        duplicate_of: str | None
        blocked: bool
        rules_version: int

        def apply(self, aggregate: Call) -> None:
            aggregate.status = CallStatus.NOT_BILLED
            if (
                self.hold_id is not None
                and aggregate.holds[self.hold_id].status == HoldStatus.PENDING
            ):
                aggregate.void(self.hold_id)
            aggregate.billing = Billing(
                False, BillingReason(self.reason), self.hold_id, self.buyer_id, 0, 0, 0
            )

    class CallConverted(PPCXAggregate.Event):
        value_cents: int | None
        by: str

        def apply(self, aggregate: Call) -> None:
            aggregate.converted = True
            aggregate.conversion_value_cents = self.value_cents

    class CallDisputed(PPCXAggregate.Event):
        dispute_id: str
        reason: str
        by: str

        def apply(self, aggregate: Call) -> None:
            aggregate.disputes[self.dispute_id] = Dispute(DisputeStatus.OPEN, self.reason)

    class QualificationFailed(PPCXAggregate.Event):
        """The caller failed the campaign's IVR qualification (`domain.ivr.judge`): no
        auction; the call went where the campaign says (`action`: hangup or fallback).
        `answer` is what `judge` keeps of the answer (keypad digits; never speech)."""

        question_id: str
        answer: str | None
        action: str  # a domain.ivr.FailAction
        rule_version: int
        campaign_version: int | None

        def apply(self, aggregate: Call) -> None:
            aggregate.status = CallStatus.DISQUALIFIED

    class DisputeResolved(PPCXAggregate.Event):
        dispute_id: str
        accepted: bool
        note: str
        reversal_transfer_id: str | None
        by: str

        def apply(self, aggregate: Call) -> None:
            status = DisputeStatus.ACCEPTED if self.accepted else DisputeStatus.REJECTED
            aggregate.disputes[self.dispute_id] = Dispute(
                status, aggregate.disputes[self.dispute_id].reason
            )
            if self.accepted:
                aggregate.status = CallStatus.REVERSED

    class RecordingAvailable(PPCXAggregate.Event):
        """The telephony reported the call's recording completed (Twilio's recording-status
        callback): `recording_sid` is Twilio's id to fetch it by, `duration_s` its length.
        The durable half of the fetch queue: `CallRecorded` follows once it is fetched."""

        recording_id: str
        recording_sid: str
        duration_s: int

        def apply(self, aggregate: Call) -> None:
            aggregate.recordings_available = {
                **aggregate.recordings_available,
                self.recording_id: self.recording_sid,
            }

    class CallRecorded(PPCXAggregate.Event):
        """The call's recording was fetched from the telephony and stored: `location` is its
        key in the recordings store, `sha256` and `size_bytes` those of the stored bytes."""

        recording_id: str
        sha256: str
        duration_s: int
        size_bytes: int
        location: str
        content_type: str

        def apply(self, aggregate: Call) -> None:
            recording = Recording(
                self.recording_id,
                self.sha256,
                self.duration_s,
                self.size_bytes,
                self.location,
                self.content_type,
            )
            aggregate.recordings = {**aggregate.recordings, self.recording_id: recording}

    class RecordingDeleted(PPCXAggregate.Event):
        """The recording's bytes were deleted from the store (`reason`: "retention", or an
        admin's words); its hash stays in the log."""

        recording_id: str
        reason: str
        by: str

        def apply(self, aggregate: Call) -> None:
            kept = aggregate.recordings[self.recording_id]
            aggregate.recordings = {
                **aggregate.recordings,
                self.recording_id: replace(kept, deleted=True),
            }

    class CallTranscribed(PPCXAggregate.Event):
        """A recording's transcript, redacted (`domain.transcript`), is stored at `location`
        in the transcripts store; its SHA-256 is the evidence replay checks."""

        recording_id: str
        transcript_sha256: str
        location: str
        engine: str
        engine_version: str
        redactions: int
        audio_ms: int

        def apply(self, aggregate: Call) -> None:
            aggregate.transcripts = {**aggregate.transcripts, self.recording_id: self.location}

    class PhrasesSpotted(PPCXAggregate.Event):
        """The campaign's `keywords` phrases found in a recording's transcript (maybe none)."""

        recording_id: str
        phrases: list[str]
        campaign_version: int | None
        rule_version: int

        def apply(self, aggregate: Call) -> None:
            aggregate.spotted = {**aggregate.spotted, self.recording_id: list(self.phrases)}

    class CallScored(PPCXAggregate.Event):
        """A lead score (`domain.scoring`): the probability of conversion in basis points,
        from the model `model_version` over `features` (the call's, read from its events)."""

        score_bp: int
        model_version: str
        features: dict[str, Any]

        def apply(self, aggregate: Call) -> None:
            aggregate.score_bp = self.score_bp
            aggregate.score_model_version = self.model_version
            aggregate.score_features = cast("FeaturesJson", self.features)

    def void(self, hold_id: str) -> None:
        """The hold is voided (applying an event: the call's own holds only)."""
        self.holds[hold_id] = self.holds[hold_id].with_status(HoldStatus.VOIDED)

    # -- commands ---------------------------------------------------------------------------
    @classmethod
    def receive_ping(
        cls,
        call_id: str,
        campaign_id: str,
        publisher_id: str,
        caller_hash: str,
        geo: dict[str, Any],
        attribution: dict[str, Any],
        tags: dict[str, str],
        market: str,
        at: datetime,
        *,
        consent: ConsentJson | None = None,
        screening: ScreeningJson | None = None,
    ) -> Call:
        return cls.record_created(
            cls.PingReceived,
            id=call_id,
            campaign_id=campaign_id,
            publisher_id=publisher_id,
            caller_hash=caller_hash,
            geo=geo,
            attribution=attribution,
            tags=tags,
            market=market,
            consent=consent,
            screening=screening,
            timestamp=at,
        )

    def screen_out(self, refusal: Refusal, rule_version: int, at: datetime) -> None:
        """The ping is refused by a screen, on the facts its PingReceived recorded."""
        self._require(self.PingScreened, action="screen the ping")
        facts = present(self.screening, "a screened ping recorded its facts")
        self.trigger_event(
            self.PingScreened,
            screen=refusal.screen,
            reason=refusal.reason,
            rule_version=rule_version,
            facts=facts,
            timestamp=at,
        )

    def fail_qualification(
        self,
        *,
        question_id: str,
        answer: str | None,
        action: str,
        rule_version: int,
        campaign_version: int | None,
        at: datetime,
    ) -> None:
        """The caller failed a qualification question: the call ends before any auction."""
        self._require(self.QualificationFailed, action="fail its qualification")
        self.trigger_event(
            self.QualificationFailed,
            question_id=question_id,
            answer=answer,
            action=action,
            rule_version=rule_version,
            campaign_version=campaign_version,
            timestamp=at,
        )

    def allows(self, event_class: type[PPCXAggregate.Event]) -> bool:
        """Whether the call's status lets `event_class` happen now (`CALL_TRANSITIONS`)."""
        return self.status in CALL_TRANSITIONS[event_class].source

    def _require(self, event_class: type[PPCXAggregate.Event], *, action: str) -> None:
        if not self.allows(event_class):
            raise Conflict(f"call {self.id} is {self.status}; cannot {action}")

    def record_bid(
        self,
        target_id: str,
        buyer_id: str,
        amount_cents: int,
        source: BidSource,
        latency_ms: int,
        priority: int,
        weight: int,
        at: datetime,
        *,
        target_version: int | None = None,
    ) -> None:
        self._require(self.BidReceived, action="record a bid")
        self.trigger_event(
            self.BidReceived,
            target_id=target_id,
            buyer_id=buyer_id,
            amount_cents=amount_cents,
            source=source,
            latency_ms=latency_ms,
            priority=priority,
            weight=weight,
            target_version=target_version,
            timestamp=at,
        )

    def record_rejected_bid(
        self,
        target_id: str,
        buyer_id: str,
        amount_cents: int | None,
        reason: str,
        latency_ms: int,
        at: datetime,
    ) -> None:
        self._require(self.BidRejected, action="record a bid")
        self.trigger_event(
            self.BidRejected,
            target_id=target_id,
            buyer_id=buyer_id,
            amount_cents=amount_cents,
            reason=reason,
            latency_ms=latency_ms,
            timestamp=at,
        )

    def record_timed_out_bid(
        self, target_id: str, buyer_id: str, timeout_ms: int, latency_ms: int, at: datetime
    ) -> None:
        self._require(self.BidTimedOut, action="record a bid")
        self.trigger_event(
            self.BidTimedOut,
            target_id=target_id,
            buyer_id=buyer_id,
            timeout_ms=timeout_ms,
            latency_ms=latency_ms,
            timestamp=at,
        )

    def award(
        self,
        *,
        rule_version: int,
        mode: Distribution,
        seed: int,
        floor_cents: int,
        rr_cursor: int,
        ranking: Sequence[Candidate],
        winner_target_id: str,
        hold_id: str,
        expires_at: datetime,
        excluded: Mapping[str, str],
        skipped: list[list[str]],
        at: datetime,
        campaign_version: int | None = None,
    ) -> Candidate:
        self._require(self.AuctionDecided, action="decide an auction")
        winner = present(
            next((c for c in ranking if c.target_id == winner_target_id), None),
            "the winner is one of the ranked candidates",
        )
        invariant(winner_target_id in self.bid_targets, "the winner placed a bid")
        invariant(winner.price_cents >= floor_cents, "the price is not below the floor")
        invariant(expires_at > at, "a bid expires after it is made")
        self.trigger_event(
            self.AuctionDecided,
            rule_version=rule_version,
            mode=mode,
            seed=seed,
            floor_cents=floor_cents,
            rr_cursor=rr_cursor,
            ranking=[c.to_json() for c in ranking[:RANKING_KEPT_MAX]],
            winner_target_id=winner_target_id,
            winner_buyer_id=winner.buyer_id,
            price_cents=winner.price_cents,
            payout_cents=winner.payout_cents,
            hold_id=hold_id,
            expires_at=expires_at,
            excluded=dict(excluded),
            skipped=skipped,
            campaign_version=campaign_version,
            timestamp=at,
        )
        return winner

    def find_no_buyer(
        self,
        reason: NoBuyerReason,
        excluded: Mapping[str, str],
        skipped: list[list[str]],
        at: datetime,
    ) -> None:
        self._require(self.NoBuyerFound, action="close the auction")
        self.trigger_event(
            self.NoBuyerFound,
            reason=reason,
            excluded=dict(excluded),
            skipped=skipped,
            timestamp=at,
        )

    def pending_hold(self) -> tuple[str, Hold] | None:
        pending = [(h, v) for h, v in self.holds.items() if v.status == HoldStatus.PENDING]
        invariant(len(pending) <= 1, f"call {self.id} has more than one pending hold")
        return pending[0] if pending else None

    def expire(self, at: datetime) -> tuple[str, Hold]:
        self._require(self.PingExpired, action="expire")
        expires_at = present(self.expires_at, "a decided call's bid has an expiry")
        if at < expires_at:
            raise Conflict(f"call {self.id} does not expire before {expires_at.isoformat()}")
        held = present(self.pending_hold(), "a decided call holds the winner's funds")
        self.trigger_event(self.PingExpired, hold_id=held[0], timestamp=at)
        return held

    def refuse_post(self, reason: PostRefusal, at: datetime) -> tuple[str, Hold]:
        """Refuse to route an unexpired, unposted bid (its hold is voided by the caller)."""
        self._require(self.PostRefused, action="refuse the post")
        held = present(self.pending_hold(), "a decided call holds the winner's funds")
        self.trigger_event(self.PostRefused, reason=reason, hold_id=held[0], timestamp=at)
        return held

    def post(self, at: datetime) -> Route:
        if self.status == CallStatus.REFUSED:
            raise Refused("the post of this call was refused", reason=PostRefusal.BLOCKED)
        if self.status in POSTED_STATUSES:
            raise Conflict(f"call {self.id} was already posted")
        if self.status == CallStatus.EXPIRED or (
            self.allows(self.CallPosted) and self.expires_at is not None and at >= self.expires_at
        ):
            raise Expired(f"the bid for call {self.id} expired")
        self._require(self.CallPosted, action="post")
        route = present(self.route, "a decided call has its winner's route")
        self.trigger_event(self.CallPosted, timestamp=at)
        self._route(1, route, route.hold_id, at)
        return route

    def _route(self, attempt: int, to: Candidate | Route, hold_id: str, at: datetime) -> None:
        self.trigger_event(
            self.CallRouted,
            attempt=attempt,
            target_id=to.target_id,
            buyer_id=to.buyer_id,
            destination=to.destination,
            price_cents=to.price_cents,
            payout_cents=to.payout_cents,
            buffer_s=to.buffer_s,
            hold_id=hold_id,
            timestamp=at,
        )

    def answer(self, at: datetime) -> None:
        self._require(self.CallAnswered, action="answer")
        self.trigger_event(self.CallAnswered, attempt=self.attempt, timestamp=at)

    def tried_targets(self) -> set[str]:
        return {h.target_id for h in self.holds.values()}

    def fail_over(
        self,
        reason: FailoverReason,
        next_candidate: Candidate | None,
        next_hold_id: str | None,
        skipped: list[list[str]],
        at: datetime,
    ) -> tuple[str, Hold]:
        """The current attempt failed: its hold is voided; route to `next_candidate` if any."""
        self._require(self.CallFailedOver, action="fail over")
        held = present(self.pending_hold(), "a routed call holds its buyer's funds")
        route = present(self.route, "a routed call has a route")
        self.trigger_event(
            self.CallFailedOver,
            attempt=self.attempt,
            reason=reason,
            target_id=route.target_id,
            hold_id=held[0],
            next_target_id=next_candidate.target_id if next_candidate else None,
            skipped=skipped,
            timestamp=at,
        )
        if next_candidate is not None:
            next_hold_id = present(next_hold_id, "a failover to a target opens a hold")
            invariant(next_hold_id not in self.holds, "a failover opens a new hold")
            invariant(
                next_candidate.target_id not in self.tried_targets(),
                "a failover goes to a target not tried yet",
            )
            self._route(self.attempt + 1, next_candidate, next_hold_id, at)
        else:
            self.trigger_event(
                self.CallCompleted, duration_s=0, answered=False, ended_by=None, timestamp=at
            )
            self.trigger_event(
                self.CallNotBilled,
                reason=BillingReason.NOT_ANSWERED,
                hold_id=None,
                buyer_id=None,
                duration_s=0,
                buffer_s=0,
                duplicate_of=None,
                blocked=False,
                rules_version=BILLING_RULES_VERSION,
                timestamp=at,
            )
        return held

    def complete(
        self,
        *,
        duration_s: int,
        billable: bool,
        reason: BillingReason,
        revenue_cents: int,
        payout_cents: int,
        margin_cents: int,
        duplicate_of: str | None,
        blocked: bool,
        at: datetime,
        ended_by: str | None = None,
        flagged: FlagDecision | None = None,
    ) -> tuple[str, Hold]:
        """Record the end of the call, its flags (when `flagged` names any) and its billing
        decision; the caller posts or voids."""
        self._require(self.CallCompleted, action="complete")
        held = present(self.pending_hold(), "a routed call holds its buyer's funds")
        route = present(self.route, "a routed call has a route")
        hold_id, hold = held
        answered = self.status == CallStatus.ANSWERED
        self.trigger_event(
            self.CallCompleted,
            duration_s=duration_s,
            answered=answered,
            ended_by=ended_by,
            timestamp=at,
        )
        if flagged is not None and flagged.flags:
            invariant(
                (flagged.duration_s, flagged.buffer_s, flagged.ended_by)
                == (duration_s, route.buffer_s, ended_by),
                "the flags were decided on this completion",
            )
            self.trigger_event(
                self.CallFlagged,
                flags=[str(f) for f in flagged.flags],
                rule_version=flagged.rule_version,
                ended_by=ended_by,
                duration_s=duration_s,
                buffer_s=route.buffer_s,
                margin_s=flagged.margin_s,
                short_call_s=flagged.short_call_s,
                timestamp=at,
            )
        if billable:
            invariant(revenue_cents == payout_cents + margin_cents, "revenue = payout + margin")
            invariant(revenue_cents == hold.amount_cents, "a bill posts the whole hold")
            self.trigger_event(
                self.CallBilled,
                hold_id=hold_id,
                buyer_id=hold.buyer_id,
                target_id=hold.target_id,
                revenue_cents=revenue_cents,
                payout_cents=payout_cents,
                margin_cents=margin_cents,
                duration_s=duration_s,
                buffer_s=route.buffer_s,
                rules_version=BILLING_RULES_VERSION,
                timestamp=at,
            )
        else:
            self.trigger_event(
                self.CallNotBilled,
                reason=reason,
                hold_id=hold_id,
                buyer_id=hold.buyer_id,
                duration_s=duration_s,
                buffer_s=route.buffer_s,
                duplicate_of=duplicate_of,
                blocked=blocked,
                rules_version=BILLING_RULES_VERSION,
                timestamp=at,
            )
        return held

    def score(
        self, score_bp: int, model_version: str, features: FeaturesJson, at: datetime
    ) -> bool:
        """Record a lead score of the ended call; False (nothing recorded) when its latest
        score is by the same model over the same features (a redelivered trigger)."""
        self._require(self.CallScored, action="score")
        invariant(score_bp in SCORE_BP, "a score is 0..10000 basis points")
        invariant(is_model_version(model_version), "a model's version is its hash")
        if self.score_model_version == model_version and self.score_features == features:
            return False
        self.trigger_event(
            self.CallScored,
            score_bp=score_bp,
            model_version=model_version,
            features=dict(features),
            timestamp=at,
        )
        return True

    def convert(self, value_cents: int | None, by: str, at: datetime) -> None:
        if not self.allows(self.CallConverted):
            raise Conflict(f"call {self.id} was never connected; it cannot convert")
        if self.converted:
            raise Conflict(f"call {self.id} already converted")
        self.trigger_event(self.CallConverted, value_cents=value_cents, by=by, timestamp=at)

    def dispute(self, dispute_id: str, reason: str, by: str, at: datetime) -> None:
        if not self.allows(self.CallDisputed):
            raise Conflict(f"call {self.id} is {self.status}; only a billed call can be disputed")
        if any(d.status == DisputeStatus.OPEN for d in self.disputes.values()):
            raise Conflict(f"call {self.id} already has an open dispute")
        self.trigger_event(
            self.CallDisputed, dispute_id=dispute_id, reason=reason, by=by, timestamp=at
        )

    def resolve_dispute(
        self,
        dispute_id: str,
        accepted: bool,
        note: str,
        reversal_transfer_id: str | None,
        by: str,
        at: datetime,
    ) -> None:
        dispute = self.disputes.get(dispute_id)
        if dispute is None:
            raise Conflict(f"call {self.id} has no dispute {dispute_id}")
        if dispute.status != DisputeStatus.OPEN:
            raise Conflict(f"dispute {dispute_id} is already {dispute.status}")
        self._require(self.DisputeResolved, action="resolve a dispute")
        invariant(accepted == (reversal_transfer_id is not None), "accepted disputes reverse")
        self.trigger_event(
            self.DisputeResolved,
            dispute_id=dispute_id,
            accepted=accepted,
            note=note,
            reversal_transfer_id=reversal_transfer_id,
            by=by,
            timestamp=at,
        )

    def recording_available(
        self, *, recording_id: str, recording_sid: str, duration_s: int, at: datetime
    ) -> bool:
        """Record that the telephony has a recording to fetch; False (nothing recorded) when
        it said so before, or the recording is recorded already."""
        if recording_id in self.recordings_available or recording_id in self.recordings:
            return False
        self._require(self.RecordingAvailable, action="note an available recording")
        invariant(duration_s >= 0, "a recording's length is not negative")
        invariant(RECORDING_SID_RE.fullmatch(recording_sid) is not None, "a Twilio RecordingSid")
        self.trigger_event(
            self.RecordingAvailable,
            recording_id=recording_id,
            recording_sid=recording_sid,
            duration_s=duration_s,
            timestamp=at,
        )
        return True

    def record_recording(
        self,
        *,
        recording_id: str,
        sha256: str,
        duration_s: int,
        size_bytes: int,
        location: str,
        content_type: str,
        at: datetime,
    ) -> bool:
        """Record a stored recording; False (nothing recorded) when it was recorded before."""
        if recording_id in self.recordings:
            return False
        self._require(self.CallRecorded, action="record a recording")
        invariant(SHA256_RE.fullmatch(sha256) is not None, "a recording's hash is SHA-256 hex")
        invariant(is_recording_key(location), "a recording's key is made of ids")
        invariant(size_bytes > 0, "a stored recording has bytes")
        self.trigger_event(
            self.CallRecorded,
            recording_id=recording_id,
            sha256=sha256,
            duration_s=duration_s,
            size_bytes=size_bytes,
            location=location,
            content_type=content_type,
            timestamp=at,
        )
        return True

    def delete_recording(self, recording_id: str, reason: str, by: str, at: datetime) -> bool:
        """Record a recording's deletion; False when it was deleted before."""
        recording = self.recordings.get(recording_id)
        if recording is None:
            raise Conflict(f"call {self.id} has no recording {recording_id}")
        if recording.deleted:
            return False
        self.trigger_event(
            self.RecordingDeleted, recording_id=recording_id, reason=reason, by=by, timestamp=at
        )
        return True

    def record_transcript(
        self,
        recording_id: str,
        transcript_sha256: str,
        location: str,
        engine: str,
        engine_version: str,
        redactions: int,
        audio_ms: int,
        at: datetime,
    ) -> None:
        """A recording's stored transcript; one per recording (a second is a conflict)."""
        self._require(self.CallTranscribed, action="record a transcript")
        if recording_id not in self.recordings:
            raise Conflict(f"call {self.id} has no recording {recording_id}")
        if recording_id in self.transcripts:
            raise Conflict(f"recording {recording_id} is already transcribed")
        invariant(redactions >= 0 and audio_ms >= 0, "counts are not negative")
        self.trigger_event(
            self.CallTranscribed,
            recording_id=recording_id,
            transcript_sha256=transcript_sha256,
            location=location,
            engine=engine,
            engine_version=engine_version,
            redactions=redactions,
            audio_ms=audio_ms,
            timestamp=at,
        )

    def spot_phrases(
        self,
        recording_id: str,
        phrases: list[str],
        campaign_version: int | None,
        rule_version: int,
        at: datetime,
    ) -> None:
        """The phrases found in a transcribed recording; once per recording."""
        self._require(self.PhrasesSpotted, action="record spotted phrases")
        if recording_id not in self.transcripts:
            raise Conflict(f"recording {recording_id} has no transcript")
        if recording_id in self.spotted:
            raise Conflict(f"phrases of recording {recording_id} are already spotted")
        self.trigger_event(
            self.PhrasesSpotted,
            recording_id=recording_id,
            phrases=list(phrases),
            campaign_version=campaign_version,
            rule_version=rule_version,
            timestamp=at,
        )


# -- how a call moves ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transition:
    """An event of the call: the statuses it may happen in (`source`; none for the event that
    creates the call) and the statuses it may leave the call in (`to`; the same as before
    when `keeps`)."""

    source: frozenset[CallStatus]
    to: frozenset[CallStatus]
    keeps: bool = False


def _moves(source: Iterable[CallStatus], *to: CallStatus) -> Transition:
    return Transition(frozenset(source), frozenset(to))


def _keeps(source: Iterable[CallStatus]) -> Transition:
    return Transition(frozenset(source), frozenset(source), keeps=True)


# statuses a call is connected in: it reached a buyer (or was routed to and ended)
_CONNECTED = (
    CallStatus.ROUTING,
    CallStatus.ANSWERED,
    CallStatus.COMPLETED,
    CallStatus.BILLED,
    CallStatus.NOT_BILLED,
    CallStatus.REVERSED,
)

# statuses a call has ended in (its recording, transcript and score come after)
_ENDED = (
    CallStatus.COMPLETED,
    CallStatus.BILLED,
    CallStatus.NOT_BILLED,
    CallStatus.REVERSED,
)

# The one table of the call's life. Commands check their precondition from it (`Call.allows`);
# `apply()` never does: a stored event is a fact, and replay applies it as it is. A test
# holds the table to the event classes and the stored log v1 to the table. POSTED,
# FAILING_OVER and UNROUTED are passing: the command that enters one leaves it in the same
# save (post → routing; failover → routing, or completed and not billed).
CALL_TRANSITIONS: Mapping[type[PPCXAggregate.Event], Transition] = MappingProxyType(
    {
        Call.PingReceived: _moves((), CallStatus.PINGED),
        Call.PingScreened: _moves((CallStatus.PINGED,), CallStatus.SCREENED),
        Call.BidReceived: _keeps((CallStatus.PINGED,)),
        Call.BidRejected: _keeps((CallStatus.PINGED,)),
        Call.BidTimedOut: _keeps((CallStatus.PINGED,)),
        Call.AuctionDecided: _moves((CallStatus.PINGED,), CallStatus.DECIDED),
        Call.NoBuyerFound: _moves((CallStatus.PINGED,), CallStatus.NO_BUYER),
        Call.QualificationFailed: _moves((CallStatus.PINGED,), CallStatus.DISQUALIFIED),
        Call.PingExpired: _moves((CallStatus.DECIDED,), CallStatus.EXPIRED),
        Call.PostRefused: _moves((CallStatus.DECIDED,), CallStatus.REFUSED),
        Call.CallPosted: _moves((CallStatus.DECIDED,), CallStatus.POSTED),
        Call.CallRouted: _moves((CallStatus.POSTED, CallStatus.FAILING_OVER), CallStatus.ROUTING),
        Call.CallAnswered: _moves((CallStatus.ROUTING,), CallStatus.ANSWERED),
        Call.CallFailedOver: _moves(
            (CallStatus.ROUTING,), CallStatus.FAILING_OVER, CallStatus.UNROUTED
        ),
        Call.CallCompleted: _moves(
            (CallStatus.ROUTING, CallStatus.ANSWERED, CallStatus.UNROUTED), CallStatus.COMPLETED
        ),
        Call.CallFlagged: _keeps((CallStatus.COMPLETED,)),
        Call.CallBilled: _moves((CallStatus.COMPLETED,), CallStatus.BILLED),
        Call.CallNotBilled: _moves((CallStatus.COMPLETED,), CallStatus.NOT_BILLED),
        Call.CallConverted: _keeps(_CONNECTED),
        Call.CallDisputed: _keeps((CallStatus.BILLED,)),
        Call.DisputeResolved: _moves((CallStatus.BILLED,), CallStatus.REVERSED, CallStatus.BILLED),
        # a recording arrives once the dial ended: whatever the call's billing became; its
        # transcript and the phrases spotted in it later still
        Call.RecordingAvailable: _keeps(_CONNECTED),
        Call.CallRecorded: _keeps(_CONNECTED),
        Call.RecordingDeleted: _keeps(_CONNECTED),
        Call.CallTranscribed: _keeps(_CONNECTED),
        Call.PhrasesSpotted: _keeps(_CONNECTED),
        Call.CallScored: _keeps(_ENDED),
    }
)


def reachable(start: Iterable[CallStatus]) -> frozenset[CallStatus]:
    """`start` and every status a call can move on to from it, by the table."""
    found = set(start)
    grew = True
    while grew:
        grew = False
        for transition in CALL_TRANSITIONS.values():
            if found & transition.source and not transition.to <= found:
                found |= transition.to
                grew = True
    return frozenset(found)


# a call in one of these was posted already (a second post is a conflict)
POSTED_STATUSES = reachable(CALL_TRANSITIONS[Call.CallPosted].to)
