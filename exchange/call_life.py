"""A call's life after its auction: posted and routed to the winner, answered, failed over
to the next bidder, completed and billed — each a method, each reading the call from the
store on the thread pool, then keeping Redis's reservation in step (routed, released on the
way it ended).

A time the telephony reports (`at`) must be within the tolerance of the clock
(`domain.reported_time`), checked before anything is read or reserved; it is then the time
of the events recorded."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from domain.billing import BillingDecision
from domain.call import CALL_MAX_S, Call
from domain.call_flags import EndedBy
from domain.call_state import ExclusionReason, FailoverReason, PostRefusal, Route
from domain.campaign import Campaign
from domain.clock import Clock
from domain.commands import CompleteCall, FailOver, PostCall, RecordAnswer
from domain.errors import Conflict, InsufficientFunds, Refused, Suspended
from domain.invariant import present
from domain.publisher import Publisher
from domain.reported_time import check_reported_at
from exchange.blocking import in_thread
from exchange.hotstate import HotState, ReserveStatus
from exchange.reservations import ReleaseMode, released_on_error, reserve
from handlers.calls import CallHandlers
from handlers.results import FailoverOutcome, RefusedPost, Routed

logger = logging.getLogger(__name__)


class CallLife:
    def __init__(
        self,
        *,
        hot: HotState,
        calls: CallHandlers,
        clock: Clock,
        executor: ThreadPoolExecutor,
    ) -> None:
        self.hot = hot
        self.calls = calls
        self.app = calls.app
        self.clock = clock
        self.executor = executor

    # -- post ------------------------------------------------------------------------------------
    async def post(self, call_id: str, publisher_id: str | None) -> Routed:
        """Route the call to the winner → the route; NotFound, Conflict (posted), Expired, or
        Refused (the caller was blocked after the ping: nothing is routed); Suspended when
        the posting publisher is (read from the store: exact on every worker)."""
        if publisher_id is not None:
            publisher = await in_thread(self.executor, self.app.find, Publisher, publisher_id)
            if publisher is not None and publisher.suspended:
                raise Suspended(f"publisher {publisher_id} is suspended: its posts are refused")
        posted = await in_thread(
            self.executor, self.calls.post_call, PostCall(call_id, publisher_id)
        )
        call = await in_thread(self.executor, self.app.load, Call, call_id, "call_id")
        if isinstance(posted, RefusedPost):
            await self.hot.release(
                call.market,
                posted.hold.target_id,
                posted.hold.buyer_id,
                posted.hold_id,
                ReleaseMode.VOID,
            )
            await self.hot.forget_last_ping(
                call.market, call.campaign_id, call.publisher_id, call.caller_hash
            )
            raise Refused(
                f"call {call_id} is not routed: the caller is blocked", reason=PostRefusal.BLOCKED
            )
        await self._routed(call, posted.route)
        await self.hot.forget_last_ping(
            call.market, call.campaign_id, call.publisher_id, call.caller_hash
        )
        return posted

    async def _routed(self, call: Call, route: Route) -> None:
        extended = await self.hot.route(
            call.market, route.target_id, route.buyer_id, route.hold_id, self.clock.now()
        )
        if not extended:  # Redis lost it (expired or flushed): the log still holds the funds
            logger.warning("reservation %s missing at routing", route.hold_id)

    # -- what the telephony reports ----------------------------------------------------------------
    async def _reported(
        self, call_id: str, publisher_id: str | None, at: datetime | None
    ) -> tuple[Call, datetime | None]:
        """The call a report is about (NotFound for another publisher's), and its time once
        checked against the clock."""
        if at is not None:
            at = check_reported_at(at, self.clock.now())
        call = await in_thread(self.executor, self.calls.load_call, call_id, publisher_id)
        return call, at

    async def answered(
        self, call_id: str, publisher_id: str | None, at: datetime | None = None
    ) -> None:
        """The buyer answered (a repeated report changes nothing)."""
        _, at = await self._reported(call_id, publisher_id, at)
        await in_thread(self.executor, self.calls.record_answer, RecordAnswer(call_id, at))

    async def failed_over(
        self,
        call_id: str,
        reason: FailoverReason,
        publisher_id: str | None,
        at: datetime | None = None,
    ) -> FailoverOutcome:
        """The ringing buyer did not take the call: reserve and route to the next ranked
        bidder that can take it (within the campaign's attempts), or end the call unbilled;
        the failed attempt's reservation is released."""
        call, at = await self._reported(call_id, publisher_id, at)
        if not call.allows(Call.CallFailedOver):
            raise Conflict(f"call {call.id} is {call.status}; only a ringing call fails over")
        failed = present(call.route, "a ringing call has a route")
        campaign = await in_thread(
            self.executor, self.app.load, Campaign, call.campaign_id, "campaign_id"
        )
        snapshot = await self.hot.snapshot(call.market)
        now = self.clock.now()
        skipped: list[tuple[str, ExclusionReason]] = []
        result: FailoverOutcome | None = None
        tried = call.tried_targets()
        if call.attempt < campaign.max_attempts:
            for candidate in call.ranking:
                rule = snapshot.targets.get(candidate.target_id)
                if candidate.target_id in tried or rule is None:
                    continue
                if rule.archived or rule.paused:  # its buyer stopped new calls since the ping
                    why = ExclusionReason.ARCHIVED if rule.archived else ExclusionReason.PAUSED
                    skipped.append((candidate.target_id, why))
                    continue
                hold_id, status = await reserve(
                    self.hot, snapshot, candidate, call.id, now, now + timedelta(seconds=CALL_MAX_S)
                )
                if status not in (ReserveStatus.RESERVED, ReserveStatus.ALREADY):
                    skipped.append((candidate.target_id, status.reason))
                    continue
                command = FailOver(
                    call.id, reason, candidate.target_id, hold_id, tuple(skipped), at
                )
                try:
                    async with released_on_error(
                        self.hot, call.market, candidate.target_id, candidate.buyer_id, hold_id
                    ):
                        result = await in_thread(self.executor, self.calls.fail_over, command)
                except InsufficientFunds:  # the next buyer's account refused the hold
                    skipped.append((candidate.target_id, ExclusionReason.INSUFFICIENT_FUNDS))
                    continue
                await self.hot.route(
                    call.market, candidate.target_id, candidate.buyer_id, hold_id, now
                )
                break
        if result is None:
            result = await in_thread(
                self.executor,
                self.calls.fail_over,
                FailOver(call.id, reason, None, None, tuple(skipped), at),
            )
        await self.hot.release(
            call.market,
            failed.target_id,
            failed.buyer_id,
            failed.hold_id,
            ReleaseMode.VOID,
        )
        return result

    async def completed(
        self,
        call_id: str,
        duration_s: int,
        publisher_id: str | None,
        at: datetime | None = None,
        ended_by: EndedBy | None = None,
    ) -> BillingDecision:
        """The call ended after `duration_s` (`ended_by` the caller or the buyer, when the
        telephony says): the billing decision (a repeated report answers the recorded one);
        the reservation is settled (billed) or ended."""
        call, at = await self._reported(call_id, publisher_id, at)
        billing = await in_thread(
            self.executor,
            self.calls.complete_call,
            CompleteCall(call.id, duration_s, at, ended_by),
        )
        route = call.route
        if route is not None:
            await self.hot.release(
                call.market,
                route.target_id,
                route.buyer_id,
                route.hold_id,
                ReleaseMode.SETTLE if billing.billable else ReleaseMode.END,
            )
        return billing
