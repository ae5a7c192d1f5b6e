"""The life of a call: record the auction with the winner's hold, expire, post, answer, fail
over, complete with the billing decision, convert, dispute and resolve.

Each handler saves the call together with every buyer account (and caller history) the
decision touched, in one atomic save; buyer accounts are hot, so handlers name them in `hot`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime

from domain import call_flags, validate
from domain.anomaly import (
    ANOMALY_RULES_VERSION,
    THRESHOLDS,
    CampaignTraffic,
    anomaly,
    rates_json,
    traffic_id,
    window_start,
)
from domain.base import PPCXAggregate
from domain.billing import BillingDecision, billing_decision, is_duplicate
from domain.blocklist import BlockedCaller, blocked_caller_id
from domain.buyer import Buyer
from domain.call import Call
from domain.call_state import (
    BidOutcomeKind,
    BillingReason,
    CallStatus,
    FailoverReason,
    HoldStatus,
    NoBuyerReason,
    PostRefusal,
)
from domain.caller_history import CallerHistory, caller_history_id
from domain.campaign import Campaign
from domain.clock import from_ms, to_ms
from domain.commands import (
    CompleteCall,
    ConvertCall,
    DisputeCall,
    ExpirePing,
    FailOver,
    PostCall,
    RecordAnswer,
    RecordAuction,
    RecordDisqualification,
    ResolveDispute,
)
from domain.errors import Conflict, NotFound, ValidationError
from domain.ids import call_of_dispute, derived_id, require_id, require_subject_id
from domain.ids import dispute_id as make_dispute_id
from domain.invariant import invariant, present
from domain.ivr import IVR_RULES_VERSION
from domain.ledger import hold_transfer
from domain.limits import DURATION_S
from domain.publisher import Publisher
from domain.quality import AUTO_PAUSE_RULES_VERSION, tripped
from domain.rate_limits import RateLimitReport, report_id
from domain.reported_time import event_time
from domain.screening import SCREENING_RULES_VERSION, ScreeningJson
from domain.target import Target
from handlers.results import (
    AuctionOutcome,
    DisputeResolution,
    FailoverOutcome,
    PostOutcome,
    RefusedPost,
    Routed,
)
from handlers.unit_of_work import HandlerContext

DURATION_S_MAX = 24 * 3600
SYSTEM_BY = "system"  # the author of what the exchange decides itself (an auto-pause)
BID_OUTCOMES = tuple(BidOutcomeKind)
FAILOVER_REASONS = tuple(FailoverReason)


def _outcome(call: Call) -> AuctionOutcome:
    return AuctionOutcome(call.id, call.status, call.route, call.expires_at)


def billing_result(call: Call) -> BillingDecision:
    """The billing decision the call recorded."""
    billing = present(call.billing, "a completed call has its billing decision")
    return BillingDecision(
        billing.billable,
        billing.reason,
        billing.revenue_cents,
        billing.payout_cents,
        billing.margin_cents,
    )


class CallHandlers:
    def __init__(self, ctx: HandlerContext) -> None:
        self.ctx = ctx
        self.app = ctx.app

    def record_pings_refused(
        self, publisher_id: str, refused: int, since_ms: int | None, rate_per_s: int, burst: int
    ) -> str:
        """A report of the publisher's pings refused over its rate limit (at most one per
        publisher per report interval, decided by the token bucket) → its id."""

        def change() -> tuple[list[PPCXAggregate], str]:
            at = self.ctx.now()
            report = report_id(publisher_id, to_ms(at))
            if self.app.exists(report):
                return [], report
            since = None if since_ms is None else from_ms(since_ms)
            created = RateLimitReport(
                id=report,
                publisher_id=publisher_id,
                refused=refused,
                since_at=since,
                rate_per_s=rate_per_s,
                burst=burst,
                reason="rate_limited",
                timestamp=at,
            )
            return [created], report

        return self.ctx.run(change)

    def load_call(self, call_id: str, publisher_id: str | None = None) -> Call:
        """The call; NotFound when it is missing or belongs to another publisher."""
        return self._call(call_id, publisher_id)

    def _call(self, call_id: str, publisher_id: str | None = None) -> Call:
        require_subject_id(call_id, "call", "call_id")
        call = self.app.load(Call, call_id, "call_id")
        if publisher_id is not None and call.publisher_id != publisher_id:
            raise NotFound(f"call_id {call_id!r} does not exist", field="call_id")
        return call

    # -- the auction ---------------------------------------------------------------------------
    def record_auction(self, cmd: RecordAuction) -> AuctionOutcome:
        """Create the call with every bid and the decision; hold the winner's funds.

        Raises InsufficientFunds when the winner's account refuses the hold: nothing is
        recorded and the exchange tries the next bidder."""
        prepare, change, hot, fixed = self._auction(cmd)
        return self.ctx.run_prepared(prepare, change, hot=hot, fixed=fixed)

    def submit_auction(self, cmd: RecordAuction) -> Future[AuctionOutcome] | None:
        """`record_auction` without blocking, for the event loop: the future of its result;
        or None when recording must read the store first (an id given from outside may be
        recorded already; the campaign was not read at the version the exchange saw): then call
        `record_auction` on a thread. So must a VersionConflict from the future. Without
        group commit the writer commits in the caller's thread: None as well."""
        if not cmd.fresh_call_id or not self.ctx.writer.group_commit:
            return None
        campaign = self.app.read_at_least(Campaign, cmd.campaign_id, version=cmd.campaign_version)
        if campaign is None:
            return None
        prepare, change, hot, fixed = self._auction(cmd, campaign)
        return self.ctx.submit_prepared(prepare(), change, hot=hot, fixed=fixed)

    def _auction(
        self, cmd: RecordAuction, campaign_read: Campaign | None = None
    ) -> tuple[
        Callable[[], tuple[Call, bool]],
        Callable[[tuple[Call, bool]], tuple[list[PPCXAggregate], AuctionOutcome]],
        tuple[str, ...],
        Callable[[tuple[Call, bool]], list[PPCXAggregate]],
    ]:
        """The steps of recording an auction (see `HandlerContext.run_prepared`)."""
        require_id(cmd.call_id, "call", "call_id")
        self._check_auction(cmd)
        winner = next((c for c in cmd.ranking if c.target_id == cmd.winner_target_id), None)
        hot = (winner.buyer_id,) if winner else ()

        attempts = 0

        def prepare() -> tuple[Call, bool]:
            """The call with its bids and decision: it reads no hot aggregate, so it is
            built before taking the winner's lock. (call, True) when already recorded."""
            nonlocal attempts
            attempts += 1
            # An id the exchange has just minted cannot be stored yet: look it up only for
            # an id given from outside, or after a conflict (a repeated command).
            if not cmd.fresh_call_id or attempts > 1:
                existing = self.app.find(Call, cmd.call_id)
                if existing is not None:
                    return existing, True
            campaign = campaign_read or self.app.load_at_least(
                Campaign, cmd.campaign_id, "campaign_id", version=cmd.campaign_version
            )
            at = self.ctx.now()
            call = _pinged(cmd, campaign, at, screening=cmd.screening)
            if cmd.screened is not None:
                call.screen_out(cmd.screened, SCREENING_RULES_VERSION, at)
                return call, False
            for bid in cmd.bids:
                if bid.outcome == BidOutcomeKind.RECEIVED:
                    call.record_bid(
                        bid.target_id,
                        bid.buyer_id,
                        present(bid.amount_cents, "a received bid has an amount"),
                        bid.source,
                        bid.latency_ms,
                        bid.priority,
                        bid.weight,
                        at,
                        target_version=bid.target_version,
                    )
                elif bid.outcome == BidOutcomeKind.REJECTED:
                    call.record_rejected_bid(
                        bid.target_id,
                        bid.buyer_id,
                        bid.amount_cents,
                        bid.reason,
                        bid.latency_ms,
                        at,
                    )
                else:
                    call.record_timed_out_bid(
                        bid.target_id, bid.buyer_id, bid.timeout_ms, bid.latency_ms, at
                    )
            skipped = [list(s) for s in cmd.skipped]
            if winner is None:
                call.find_no_buyer(
                    cmd.no_buyer_reason or NoBuyerReason.NO_ELIGIBLE_BUYER,
                    cmd.excluded,
                    skipped,
                    at,
                )
                return call, False
            call.award(
                rule_version=cmd.rule_version,
                mode=cmd.mode,
                seed=cmd.seed,
                floor_cents=cmd.floor_cents,
                rr_cursor=cmd.rr_cursor,
                ranking=cmd.ranking,
                winner_target_id=winner.target_id,
                hold_id=present(cmd.hold_id, "a win names its hold"),
                expires_at=present(cmd.expires_at, "a win has an expiry"),
                excluded=cmd.excluded,
                skipped=skipped,
                at=at,
                campaign_version=cmd.campaign_version,
            )
            return call, False

        def change(prepared: tuple[Call, bool]) -> tuple[list[PPCXAggregate], AuctionOutcome]:
            call, recorded = prepared  # the call itself is saved as `fixed`
            if recorded or winner is None:
                return [], _outcome(call)
            hold_id = present(cmd.hold_id, "a win names its hold")
            # The hold is timed when the writer decides it: a buyer's events stay in time order.
            buyer = self.app.load(Buyer, winner.buyer_id, "buyer_id")
            buyer.place_hold(
                hold_id,
                cmd.call_id,
                cmd.publisher_id,
                winner.price_cents,
                winner.payout_cents,
                max(self.ctx.now(), call.modified_on),
            )
            return [buyer], _outcome(call)

        def fixed(prepared: tuple[Call, bool]) -> list[PPCXAggregate]:
            call, recorded = prepared
            return [] if recorded else [call]

        return prepare, change, hot, fixed

    def record_disqualification(self, cmd: RecordDisqualification) -> Call:
        """Create the call as pinged, with the tags passed so far, and its failed
        qualification (`Call.QualificationFailed`, `IVR_RULES_VERSION`). Again for the same
        call id (Twilio retried the webhook): the call as recorded, unchanged."""
        require_id(cmd.call_id, "call", "call_id")

        def change() -> tuple[list[PPCXAggregate], Call]:
            existing = self.app.find(Call, cmd.call_id)
            if existing is not None:
                return [], existing
            campaign = self.app.load_at_least(
                Campaign, cmd.campaign_id, "campaign_id", version=cmd.campaign_version
            )
            at = self.ctx.now()
            call = _pinged(cmd, campaign, at)
            call.fail_qualification(
                question_id=cmd.question_id,
                answer=cmd.answer,
                action=cmd.action,
                rule_version=IVR_RULES_VERSION,
                campaign_version=cmd.campaign_version,
                at=at,
            )
            return [call], call

        return self.ctx.run(change)

    def _check_auction(self, cmd: RecordAuction) -> None:
        for bid in cmd.bids:
            if bid.outcome not in BID_OUTCOMES:
                raise ValidationError(f"unknown bid outcome {bid.outcome!r}", field="bids")
            if bid.outcome == BidOutcomeKind.RECEIVED and (
                bid.amount_cents is None or bid.amount_cents <= 0
            ):
                raise ValidationError("a received bid has a positive amount", field="bids")
        if cmd.screened is not None:
            if cmd.bids or cmd.winner_target_id is not None or cmd.screening is None:
                raise ValidationError(
                    "a screened ping has its facts, and no bids or winner", field="screened"
                )
            return
        if (cmd.winner_target_id is None) == (cmd.no_buyer_reason is None):
            raise ValidationError(
                "an auction has a winner or a reason for none", field="winner_target_id"
            )
        if cmd.winner_target_id is not None:
            if cmd.hold_id is None or cmd.expires_at is None:
                raise ValidationError("a win needs a hold id and an expiry", field="hold_id")
            require_id(cmd.hold_id, "hold", "hold_id")

    def expire_ping(self, cmd: ExpirePing) -> bool:
        """Void the hold of a bid that was never posted; False when nothing was due."""
        call = self._call(cmd.call_id)
        if not call.allows(Call.PingExpired):
            return False
        route = present(call.route, "a decided call has its winner's route")

        def change() -> tuple[list[PPCXAggregate], bool]:
            fresh = self._call(cmd.call_id)
            expires_at = present(fresh.expires_at, "a decided call's bid has an expiry")
            at = self.ctx.now()
            if not fresh.allows(Call.PingExpired) or at < expires_at:
                return [], False
            hold_id, hold = fresh.expire(at)
            buyer = self.app.load(Buyer, hold.buyer_id, "buyer_id")
            buyer.void_hold(hold_id, fresh.id, hold.amount_cents, "expired", at)
            return [fresh, buyer], True

        return self.ctx.run(change, hot=(route.buyer_id,))

    # -- routing ---------------------------------------------------------------------------------
    def post_call(self, cmd: PostCall) -> PostOutcome:
        """Transfer now → the route (destination, target, buyer); 410 Expired, 409 Conflict.
        A caller blocked since the ping is not routed: the refusal is recorded, the winner's
        hold voided, and the result is a `RefusedPost` (the caller raises)."""
        call = self._call(cmd.call_id, cmd.publisher_id)
        winner = call.route.buyer_id if call.route else None

        def change() -> tuple[list[PPCXAggregate], PostOutcome]:
            fresh = self._call(cmd.call_id, cmd.publisher_id)
            at = self.ctx.now()
            unexpired = fresh.expires_at is not None and at < fresh.expires_at
            if fresh.allows(Call.PostRefused) and unexpired and self._blocked(fresh.caller_hash):
                hold_id, hold = fresh.refuse_post(PostRefusal.BLOCKED, at)
                buyer = self.app.load(Buyer, hold.buyer_id, "buyer_id")
                buyer.void_hold(hold_id, fresh.id, hold.amount_cents, PostRefusal.BLOCKED, at)
                return [fresh, buyer], RefusedPost(fresh.id, PostRefusal.BLOCKED, hold_id, hold)
            route = fresh.post(at)
            return [fresh], Routed(fresh.id, 1, route)

        return self.ctx.run(change, hot=(cmd.call_id, *([winner] if winner else [])))

    def _blocked(self, caller_hash: str) -> bool:
        entry = self.app.find(BlockedCaller, blocked_caller_id(caller_hash))
        return bool(entry and entry.blocked)

    def record_answer(self, cmd: RecordAnswer) -> None:
        def change() -> tuple[list[PPCXAggregate], None]:
            call = self._call(cmd.call_id)
            if call.status == CallStatus.ANSWERED:
                return [], None  # a repeated webhook
            call.answer(event_time(cmd.at, self.ctx.now(), call))
            return [call], None

        self.ctx.run(change, hot=(cmd.call_id,))

    def fail_over(self, cmd: FailOver) -> FailoverOutcome:
        """Void the failed attempt's hold, hold the next buyer's funds and route to it; with no
        next target the call ends unbilled (the outcome's `next` is None)."""
        if cmd.reason not in FAILOVER_REASONS:
            raise ValidationError(
                f"reason must be one of {', '.join(FAILOVER_REASONS)}", field="type"
            )
        call = self._call(cmd.call_id)
        if not call.allows(Call.CallFailedOver):
            raise Conflict(f"call {call.id} is {call.status}; only a ringing call fails over")
        candidate = None
        if cmd.next_target_id is not None:
            candidate = next((c for c in call.ranking if c.target_id == cmd.next_target_id), None)
            if candidate is None:
                raise ValidationError(
                    "the next target was not ranked in the auction", field="next_target_id"
                )
            if cmd.next_hold_id is None:
                raise ValidationError(
                    "a failover to a target needs a hold id", field="next_hold_id"
                )
        route = present(call.route, "a ringing call has a route")
        hot = tuple({route.buyer_id, *([candidate.buyer_id] if candidate else [])})

        def change() -> tuple[list[PPCXAggregate], FailoverOutcome]:
            fresh = self._call(cmd.call_id)
            if fresh.route is None:
                raise Conflict(f"call {fresh.id} is {fresh.status}; only a ringing call fails over")
            failed_target_id = fresh.route.target_id
            buyers = {
                buyer_id: self.app.load(Buyer, buyer_id, "buyer_id")
                for buyer_id in dict.fromkeys(
                    [fresh.route.buyer_id, *([candidate.buyer_id] if candidate else [])]
                )
            }
            at = event_time(cmd.at, self.ctx.now(), fresh, *buyers.values())

            def buyer(buyer_id: str) -> Buyer:
                invariant(buyer_id in buyers, "a failover moves the funds of loaded buyers only")
                return buyers[buyer_id]

            if candidate is not None:
                next_hold_id = present(cmd.next_hold_id, "a failover to a target names its hold")
                if candidate.target_id in fresh.tried_targets():
                    raise Conflict(
                        "the next target was already tried for this call", field="next_target_id"
                    )
                if next_hold_id in fresh.holds:
                    raise ValidationError("the next hold id is already used", field="next_hold_id")
                buyer(candidate.buyer_id).place_hold(
                    next_hold_id,
                    fresh.id,
                    fresh.publisher_id,
                    candidate.price_cents,
                    candidate.payout_cents,
                    at,
                )
            hold_id, hold = fresh.fail_over(
                cmd.reason, candidate, cmd.next_hold_id, [list(s) for s in cmd.skipped], at
            )
            buyer(hold.buyer_id).void_hold(
                hold_id, fresh.id, hold.amount_cents, f"failed_over:{cmd.reason}", at
            )
            touched: list[PPCXAggregate] = [fresh, *buyers.values()]
            if candidate is None:  # the call ended unanswered at the target that failed
                touched += self._count_unanswered(failed_target_id, fresh.id, at)
            return touched, FailoverOutcome(fresh.id, fresh.attempt, candidate)

        return self.ctx.run(change, hot=(cmd.call_id, *hot, route.target_id))

    # -- the billing decision ----------------------------------------------------------------
    def complete_call(self, cmd: CompleteCall) -> BillingDecision:
        """End the call and decide billing: post the hold, or void it with the reason.
        A repeated completion returns the recorded decision and changes nothing."""
        duration_s = validate.integer(cmd.duration_s, "duration_s", DURATION_S)
        call = self._call(cmd.call_id)
        if call.billing is not None:
            return billing_result(call)
        if not call.allows(Call.CallCompleted):
            raise Conflict(f"call {call.id} is {call.status}; it cannot complete")
        buyer_id = present(call.route, "a ringing call has a route").buyer_id
        target_id = present(call.route, "a ringing call has a route").target_id
        history_id = caller_history_id(call.caller_hash, buyer_id, call.campaign_id)

        def change() -> tuple[list[PPCXAggregate], BillingDecision]:
            fresh = self._call(cmd.call_id)
            if fresh.billing is not None:
                return [], billing_result(fresh)
            route = present(fresh.route, "a ringing call has a route")
            campaign = self.app.load(Campaign, fresh.campaign_id, "campaign_id")
            history = self.app.find(CallerHistory, history_id)
            buyer = self.app.load(Buyer, buyer_id, "buyer_id")
            at = event_time(
                cmd.at, self.ctx.now(), fresh, buyer, *([history] if history is not None else [])
            )
            blocked = self._blocked(fresh.caller_hash)
            last_billed_at = history.last_billed_at if history else None
            duplicate = is_duplicate(last_billed_at, at, campaign.duplicate_window_days)
            answered = fresh.status == CallStatus.ANSWERED
            flagged = call_flags.decide(
                answered=answered,
                duration_s=duration_s,
                buffer_s=route.buffer_s,
                ended_by=cmd.ended_by,
                rules=campaign.flag_rules(),
            )
            decision = billing_decision(
                answered=answered,
                duration_s=duration_s,
                buffer_s=route.buffer_s,
                duplicate=duplicate,
                blocked=blocked,
                price_cents=route.price_cents,
                payout_cents=route.payout_cents,
                buzzer_beater=flagged.buzzer_beater,
                bill_buzzer_beaters=campaign.bill_buzzer_beaters,
            )
            hold_id, hold = fresh.complete(
                duration_s=duration_s,
                billable=decision.billable,
                reason=decision.reason,
                revenue_cents=decision.revenue_cents,
                payout_cents=decision.payout_cents,
                margin_cents=decision.margin_cents,
                duplicate_of=history.last_billed_call_id if duplicate and history else None,
                blocked=blocked,
                at=at,
                ended_by=cmd.ended_by,
                flagged=flagged,
            )
            invariant(hold.buyer_id == buyer_id, "the routed buyer holds the funds")
            touched: list[PPCXAggregate] = [fresh, buyer]
            if decision.billable:
                buyer.post_hold(hold_id, fresh.id, hold.amount_cents, at)
                if history is None:
                    history = CallerHistory.start(
                        fresh.caller_hash, buyer_id, fresh.campaign_id, at
                    )
                history.record_billed(fresh.id, at)
                touched.append(history)
            else:
                buyer.void_hold(hold_id, fresh.id, hold.amount_cents, decision.reason, at)
            if decision.reason == BillingReason.NOT_ANSWERED:
                touched += self._count_unanswered(route.target_id, fresh.id, at)
            touched += self._watch(
                fresh,
                short_call=call_flags.CallFlag.SHORT_CALL in flagged.flags,
                duplicate=decision.reason == BillingReason.DUPLICATE,
                at=at,
            )
            return touched, billing_result(fresh)

        hot = (cmd.call_id, buyer_id, history_id, target_id, traffic_id(call.campaign_id))
        return self.ctx.run(change, hot=hot)

    def _watch(
        self, call: Call, *, short_call: bool, duplicate: bool, at: datetime
    ) -> list[PPCXAggregate]:
        """The anomaly watch (`domain.anomaly`): the call's campaign counts it, and its
        publisher is flagged for review when its rates are far above the campaign's (unless
        it is flagged on this campaign already); saved with the call."""
        traffic = self.app.find(CampaignTraffic, traffic_id(call.campaign_id))
        if traffic is None:
            traffic = CampaignTraffic.start(call.campaign_id, at)
        counted_at = max(at, traffic.modified_on)  # the aggregate's events stay in time order
        traffic.count_call(
            call_id=call.id,
            publisher_id=call.publisher_id,
            short_call=short_call,
            duplicate=duplicate,
            timestamp=counted_at,
        )
        touched: list[PPCXAggregate] = [traffic]
        mine, every = traffic.counts(call.publisher_id, counted_at)
        rate = anomaly(mine, every, THRESHOLDS)
        if rate is None:
            return touched
        publisher = self.app.find(Publisher, call.publisher_id)
        if publisher is None or call.campaign_id in publisher.flagged_for_review:
            return touched
        publisher.flag_for_review(
            campaign_id=call.campaign_id,
            rate=rate.value,
            call_id=call.id,
            window_started_at=window_start(counted_at),
            publisher_counts=mine.to_json(),
            campaign_counts=every.to_json(),
            publisher_rates=rates_json(mine),
            campaign_rates=rates_json(every),
            thresholds=THRESHOLDS.to_json(),
            rule_version=ANOMALY_RULES_VERSION,
            by=SYSTEM_BY,
            timestamp=max(counted_at, publisher.modified_on),
        )
        return [*touched, publisher]

    def _count_unanswered(self, target_id: str, call_id: str, at: datetime) -> list[Target]:
        """The target the call ended unanswered at counts it, and is paused when one of its
        quality rules is met (`domain.quality`); saved with the call. A paused or archived
        target counts nothing (calls in flight may end after its pause)."""
        target = self.app.find(Target, target_id)
        if target is None or target.paused or target.archived:
            return []
        target.count_unanswered(call_id=call_id, by=SYSTEM_BY, timestamp=at)
        found = tripped(target.auto_pause_rules(), target.recent_unanswered(), at)
        if found is not None:
            target.auto_pause_now(
                reason=found.reason,
                call_ids=list(found.call_ids),
                rule=found.rule.to_dict(),
                rule_version=AUTO_PAUSE_RULES_VERSION,
                by=SYSTEM_BY,
                timestamp=at,
            )
        return [target]

    # -- after the call ------------------------------------------------------------------------
    def _buyers_call(self, call_id: str, buyer_id: str | None) -> Call:
        call = self._call(call_id)
        routed_buyer = call.route.buyer_id if call.route else None
        if buyer_id is not None and routed_buyer != buyer_id:
            raise NotFound(f"call_id {call_id!r} does not exist", field="call_id")
        return call

    def convert_call(self, cmd: ConvertCall) -> None:
        def change() -> tuple[list[PPCXAggregate], None]:
            call = self._buyers_call(cmd.call_id, cmd.buyer_id)
            call.convert(cmd.value_cents, cmd.by, self.ctx.now())
            return [call], None

        self.ctx.run(change, hot=(cmd.call_id,))

    def dispute_call(self, cmd: DisputeCall) -> str:
        require_subject_id(cmd.call_id, "call", "call_id")
        dispute_id = make_dispute_id(cmd.call_id, cmd.command_id)

        def change() -> tuple[list[PPCXAggregate], str]:
            call = self._buyers_call(cmd.call_id, cmd.buyer_id)
            if dispute_id in call.disputes:
                return [], dispute_id
            call.dispute(dispute_id, cmd.reason, cmd.by, self.ctx.now())
            return [call], dispute_id

        return self.ctx.run(change, hot=(cmd.call_id,))

    def _disputed_call(self, cmd: ResolveDispute) -> Call:
        """The call of the dispute; a dispute id that names no dispute (malformed, of another
        call, of a call that does not exist, or not opened) is NotFound for the dispute."""
        missing = NotFound(f"dispute_id {cmd.dispute_id!r} does not exist", field="dispute_id")
        if not isinstance(cmd.dispute_id, str) or call_of_dispute(cmd.dispute_id) != cmd.call_id:
            raise missing
        call = self.app.find(Call, cmd.call_id)
        if call is None or cmd.dispute_id not in call.disputes:
            raise missing
        return call

    def resolve_dispute(self, cmd: ResolveDispute) -> DisputeResolution:
        """Finance accepts (reverse the billing with new entries) or rejects a dispute."""
        call = self._disputed_call(cmd)
        billing = present(call.billing, "a disputed call was billed")
        buyer_id = billing.buyer_id

        def change() -> tuple[list[PPCXAggregate], DisputeResolution]:
            fresh = self._disputed_call(cmd)
            at = self.ctx.now()
            touched: list[PPCXAggregate] = [fresh]
            reversal_id = None
            if cmd.accept:
                hold_id = present(billing.hold_id, "a billed call posted its hold")
                hold = fresh.holds[hold_id]
                invariant(hold.status == HoldStatus.POSTED, "only a posted transfer is reversed")
                original = hold_transfer(
                    hold_id,
                    hold.buyer_id,
                    fresh.publisher_id,
                    hold.amount_cents,
                    hold.payout_cents,
                )
                reversal_id = derived_id("tx", "reversal", cmd.dispute_id)
                buyer = self.app.load(Buyer, hold.buyer_id, "buyer_id")
                buyer.reverse(original, reversal_id, fresh.id, "dispute_accepted", cmd.by, at)
                touched.append(buyer)
            fresh.resolve_dispute(cmd.dispute_id, cmd.accept, cmd.note, reversal_id, cmd.by, at)
            return touched, DisputeResolution(cmd.dispute_id, cmd.accept, reversal_id)

        return self.ctx.run(change, hot=(cmd.call_id, *([buyer_id] if buyer_id else [])))


def _pinged(
    cmd: RecordAuction | RecordDisqualification,
    campaign: Campaign,
    at: datetime,
    screening: ScreeningJson | None = None,
) -> Call:
    """The call as pinged (`Call.PingReceived`); NotFound for a publisher the campaign does
    not admit."""
    if not campaign.admits(cmd.publisher_id):
        raise NotFound("campaign_id does not exist for this publisher", field="campaign_id")
    return Call.receive_ping(
        cmd.call_id,
        cmd.campaign_id,
        cmd.publisher_id,
        cmd.caller_hash,
        cmd.geo,
        cmd.attribution,
        cmd.tags,
        cmd.market,
        at,
        consent=cmd.consent,
        screening=screening,
    )
