"""The auction: a publisher pings, buyers bid, the best eligible buyer wins within a hard
deadline (`AuctionService.ping`).

The order of a ping is fixed by invariant 4: reserve in Redis first (one atomic script), then
append the events; if the append fails the reservation is released
(`exchange.reservations.released_on_error`), and if this process dies in between, the
reservation's expiry frees it (the sweeper also voids it in the log). Redis is a fast,
derived pre-check: the buyer's account in the event store is the final word on funds, so when
the store refuses a hold the next bidder is tried.

Recording an auction reads nothing from the store (the campaign was read in the last
interval, the call id is fresh): it is built on the event loop and queued to the writer, and
the loop awaits the writer's future; it goes to the thread pool only when it must read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from domain.call import CALL_MAX_S, RANKING_KEPT_MAX
from domain.call_state import (
    BidOutcomeKind,
    BidSource,
    Candidate,
    ExclusionReason,
    NoBuyerReason,
)
from domain.campaign import Distribution
from domain.clock import Clock, to_ms
from domain.commands import BidOutcome, RecordAuction
from domain.errors import InsufficientFunds, NotFound, Suspended
from domain.ids import new_id
from domain.invariant import present
from domain.limits import PING_BURST, PING_RATE_PER_S, RTB_BURST, RTB_RATE_PER_S
from domain.money import format_cents
from eventstore.store import VersionConflict
from exchange.auction import AUCTION_RULES_VERSION, Bid, rank
from exchange.bidders import RtbAnswer, collect_rtb_bids
from exchange.blocking import in_thread
from exchange.caller_hash import CallerHasher
from exchange.eligibility import eligible_targets, no_buyer_reason
from exchange.hotstate import HotState, Peek, ReserveStatus
from exchange.market import CampaignRule, MarketSnapshot, TargetRule
from exchange.ping import BidState, PingRequest, PingResult
from exchange.rate_limits import Limit, RateLimiter, hashed, refusal
from exchange.reservations import released_on_error, reserve
from handlers.calls import CallHandlers

RESERVE_ATTEMPTS_MAX = 16
PING_SCOPE = "pings"  # a publisher's pings and RTB pings: one bucket
RTB_SCOPE = "rtb"  # the RTB requests sent to one buyer endpoint
# The campaign's RTB deadline bounds the whole decision, from the ping's arrival: bids are
# collected until this much before it, leaving time to rank and reserve.
RTB_DECISION_RESERVE_MS = 5
RTB_COLLECT_MIN_MS = 10


class AuctionService:
    """Pings: the campaign's market, eligibility, standing and real-time bids, the ranking,
    the winner reserved in Redis, and the auction recorded with the winner's hold."""

    def __init__(
        self,
        *,
        hot: HotState,
        calls: CallHandlers,
        clock: Clock,
        hasher: CallerHasher,
        http: httpx.AsyncClient,
        seeds: Callable[[], int],
        executor: ThreadPoolExecutor,
        limiter: RateLimiter | None = None,
        rtb_limit: Limit | None = None,
    ) -> None:
        self.hot = hot
        self.calls = calls
        self.clock = clock
        self.hasher = hasher
        self.http = http
        self.seeds = seeds
        self.executor = executor
        self._campaign_markets: dict[str, str] = {}
        self.limiter = limiter  # None: no rate limits (a bare service in unit tests)
        # one buyer endpoint's RTB requests
        self.rtb_limit = rtb_limit or Limit(RTB_SCOPE, RTB_RATE_PER_S, RTB_BURST)

    # -- where a campaign lives --------------------------------------------------------------
    async def _snapshot_for(self, campaign_id: str) -> tuple[MarketSnapshot, CampaignRule]:
        market = self._campaign_markets.get(campaign_id)
        if market is not None:
            snapshot = await self.hot.snapshot(market)
            campaign = snapshot.campaigns.get(campaign_id)
            if campaign is not None:
                return snapshot, campaign
        for market in await self.hot.markets():
            snapshot = await self.hot.snapshot(market)
            campaign = snapshot.campaigns.get(campaign_id)
            if campaign is not None:
                self._campaign_markets[campaign_id] = market
                return snapshot, campaign
        raise NotFound(f"campaign_id {campaign_id!r} does not exist", field="campaign_id")

    async def market_of(self, campaign_id: str) -> tuple[MarketSnapshot, CampaignRule]:
        """The campaign's market (its configuration now) and its rules; NotFound when none
        has it."""
        return await self._snapshot_for(campaign_id)

    async def static_number(self, campaign_id: str, publisher_id: str) -> str | None:
        """A static tracking number of the campaign for the publisher (the first in order),
        from the market's configuration: a call transferred to it comes back through PPCX's
        telephony and finds its bid. None when there is none; NotFound for a campaign the
        publisher may not send to. It takes the RTB ping's rate-limit token (`RateLimited`)."""
        snapshot, campaign = await self._snapshot_for(campaign_id)
        if publisher_id not in campaign.allowed_publishers:
            raise NotFound(f"campaign_id {campaign_id!r} does not exist", field="campaign_id")
        _refuse_suspended(snapshot, publisher_id)
        await self._refuse_over_limit(snapshot, publisher_id)
        numbers = snapshot.static_numbers.get((campaign_id, publisher_id))
        return numbers[0] if numbers else None

    # -- ping ----------------------------------------------------------------------------------
    async def ping(self, request: PingRequest) -> PingResult:
        started = asyncio.get_running_loop().time()
        now = self.clock.now()
        caller_hash = (
            self.hasher(request.caller_number)
            if request.caller_number
            else CallerHasher.anonymous()
        )
        snapshot, campaign, peek = await self._lookup(
            request.campaign_id, request.publisher_id, caller_hash
        )
        if request.publisher_id not in campaign.allowed_publishers:
            raise NotFound(
                f"campaign_id {request.campaign_id!r} does not exist", field="campaign_id"
            )
        _refuse_suspended(snapshot, request.publisher_id)
        if not request.limit_taken:
            await self._refuse_over_limit(snapshot, request.publisher_id)
        market = snapshot.market
        # A blocked caller gets nothing, not even a bid won before the block.
        if peek.last_call_id is not None and not peek.blocked:
            repeated = await self._unexpired_bid(
                market, peek.last_call_id, request.publisher_id, now
            )
            if repeated is not None:
                return repeated
        call_id = request.call_id or new_id("call")
        targets = snapshot.by_campaign.get(campaign.campaign_id, [])
        usage = await self.hot.read_usage(
            snapshot, campaign.campaign_id, peek, now, campaign.duplicate_window_days
        )
        auction = _Auction(
            call_id,
            request,
            campaign,
            snapshot,
            caller_hash,
            now,
            seed=self.seeds(),
            started=started,
        )
        if usage.blocked:
            return await self._record(auction, None, reason=NoBuyerReason.BLOCKED, started=started)
        eligibility = eligible_targets(
            targets,
            geo=request.geo,
            at=now,
            floor_cents=campaign.floor_cents,
            usage=usage.usage,
            headroom_cents=usage.headroom_cents,
            duplicate_buyers=usage.duplicate_buyers,
            consented=request.consent is not None,
            tags=request.tags,
        )
        auction.excluded = eligibility.excluded
        await self._collect_bids(auction, eligibility.eligible)
        if campaign.distribution == Distribution.ROUND_ROBIN:
            auction.rr_cursor = await self.hot.next_round_robin(market, campaign.campaign_id)
        ranking = rank(
            campaign.distribution,
            auction.bids,
            campaign.floor_cents,
            auction.seed,
            auction.rr_cursor,
            limit=RANKING_KEPT_MAX,
        )
        auction.ranking = [self._candidate(auction, bid) for bid in ranking]
        for candidate in auction.ranking[:RESERVE_ATTEMPTS_MAX]:
            result = await self._try_winner(auction, candidate, started)
            if result is not None:
                return result
        below_floor = len(auction.below_floor) + sum(
            1 for a in auction.rtb if a.outcome.reason == "below_floor"
        )
        reason = no_buyer_reason(
            auction.excluded,
            below_floor,
            len(auction.bids),
            rtb_asked=len(auction.rtb),
            rtb_timed_out=sum(
                1 for a in auction.rtb if a.outcome.outcome == BidOutcomeKind.TIMED_OUT
            ),
        )
        return await self._record(auction, None, reason=reason, started=started)

    async def _refuse_over_limit(self, snapshot: MarketSnapshot, publisher_id: str) -> None:
        """One token of the publisher's ping bucket, or `RateLimited` (its pings and RTB
        pings share it); a refusal is reported to the log at most once a second, with the
        count refused since the last report."""
        if self.limiter is None:
            return
        limit = ping_limit(snapshot, publisher_id)
        taken = await self.limiter.take(PING_SCOPE, publisher_id, limit)
        if taken.allowed:
            return
        if taken.reported:
            await in_thread(
                self.executor,
                self.calls.record_pings_refused,
                publisher_id,
                taken.reported,
                taken.since_ms,
                limit.rate_per_s,
                limit.burst,
            )
        raise refusal(
            limit,
            taken,
            f"publisher {publisher_id} sends more than {limit.rate_per_s} pings a second "
            f"(bursts of {limit.burst}): retry later",
        )

    async def _endpoints_over_limit(self, realtime: list[TargetRule]) -> frozenset[str]:
        """The targets whose RTB endpoint (its URL) has no token left: not asked."""
        if self.limiter is None:
            return frozenset()
        limiter = self.limiter
        urls = sorted({present(t.rtb_url, "a real-time target has a URL") for t in realtime})
        taken = await asyncio.gather(
            *(limiter.take(RTB_SCOPE, hashed(url), self.rtb_limit) for url in urls)
        )
        refused = {url for url, t in zip(urls, taken, strict=True) if not t.allowed}
        return frozenset(t.target_id for t in realtime if t.rtb_url in refused)

    async def _lookup(
        self, campaign_id: str, publisher_id: str, caller_hash: str
    ) -> tuple[MarketSnapshot, CampaignRule, Peek]:
        """The campaign's market snapshot and what Redis knows of the caller (one round trip
        once the campaign's market is known)."""
        market = self._campaign_markets.get(campaign_id)
        if market is None:
            snapshot, _ = await self._snapshot_for(campaign_id)
            market = snapshot.market
        peek = await self.hot.peek(market, campaign_id, publisher_id, caller_hash)
        snapshot = await self.hot.snapshot(market, peek.version, peek.generation)
        campaign = snapshot.campaigns.get(campaign_id)
        if campaign is None:  # the campaign moved market, or is gone
            self._campaign_markets.pop(campaign_id, None)
            raise NotFound(f"campaign_id {campaign_id!r} does not exist", field="campaign_id")
        return snapshot, campaign, peek

    async def _unexpired_bid(
        self, market: str, previous: str, publisher_id: str, now: datetime
    ) -> PingResult | None:
        """A second ping from the same publisher for the same caller and campaign while the
        first bid is unexpired gets that bid back instead of a new auction (as Ringba's RTB
        does). Another publisher's ping never sees it: it runs its own auction."""
        state = await self.hot.load_ping(market, previous)
        if state is None or state.expires_ms <= to_ms(now):
            return None
        if state.publisher_id != publisher_id:
            return None
        return PingResult(
            call_id=previous,
            accepted=True,
            reason=None,
            price_cents=state.winner.price_cents,
            payout_cents=state.winner.payout_cents,
            expires_at=state.expires_at,
            bid_count=state.bid_count,
            repeated=True,
            winner=state.winner,
        )

    async def _collect_bids(self, auction: _Auction, eligible: list[TargetRule]) -> None:
        floor = auction.campaign.floor_cents
        realtime = []
        for t in eligible:  # standing bids go straight to the ranking; events come later
            if t.bid_cents is None:
                realtime.append(t)
            elif t.bid_cents < floor:  # the floor moved above a bid set earlier
                auction.below_floor.append(t)
            else:
                auction.standing.append(t)
                auction.bids.append(present(t.standing, "a target with a bid has a standing bid"))
        if realtime:
            request = {
                "ping_id": auction.call_id,
                "campaign_id": auction.campaign.campaign_id,
                "vertical": auction.campaign.vertical,
                "caller": {"hash": auction.caller_hash, **auction.request.geo.to_dict()},
                "attribution": {
                    k: auction.request.attribution.get(k)
                    for k in ("source", "medium", "campaign", "keyword")
                },
                "tags": auction.request.tags,
                "floor": format_cents(floor),
            }
            elapsed_ms = (asyncio.get_running_loop().time() - auction.started) * 1000
            window_ms = max(
                RTB_COLLECT_MIN_MS,
                int(auction.campaign.rtb_deadline_ms - elapsed_ms - RTB_DECISION_RESERVE_MS),
            )
            answers = await collect_rtb_bids(
                self.http,
                realtime,
                request,
                deadline_ms=window_ms,
                floor_cents=floor,
                over_limit=await self._endpoints_over_limit(realtime),
            )
            for answer in answers:
                auction.add_rtb(answer)

    def _candidate(self, auction: _Auction, bid: Bid) -> Candidate:
        target = auction.snapshot.targets[bid.target_id]
        return Candidate(
            bid.target_id,
            bid.buyer_id,
            bid.amount_cents,
            auction.campaign.payout.payout_cents(bid.amount_cents),
            target.destination,
            target.buffer_s,
            bid.priority,
            bid.weight,
        )

    async def _try_winner(
        self, auction: _Auction, candidate: Candidate, started: float
    ) -> PingResult | None:
        ttl_s = auction.campaign.bid_ttl_s
        rtb = auction.answers.get(candidate.target_id)
        if rtb is not None and rtb.expires_in_s is not None:
            ttl_s = min(ttl_s, rtb.expires_in_s)
        expires_at = auction.at + timedelta(seconds=ttl_s)
        hold_id, status = await reserve(
            self.hot, auction.snapshot, candidate, auction.call_id, auction.at, expires_at
        )
        if status not in (ReserveStatus.RESERVED, ReserveStatus.ALREADY):
            auction.skipped.append((candidate.target_id, status.reason))
            return None
        decided_at = asyncio.get_running_loop().time()
        market = auction.snapshot.market
        try:
            async with released_on_error(
                self.hot, market, candidate.target_id, candidate.buyer_id, hold_id
            ):
                return await self._record(
                    auction,
                    candidate,
                    hold_id=hold_id,
                    expires_at=expires_at,
                    started=started,
                    decided_at=decided_at,
                )
        except InsufficientFunds:  # the buyer's account refused the hold: the next bidder
            auction.skipped.append((candidate.target_id, ExclusionReason.INSUFFICIENT_FUNDS))
            return None

    async def _record_auction(self, command: RecordAuction) -> None:
        """Queue the auction's events to the writer from the event loop and wait for them to
        be durable, with no thread in between (a hop to the pool and back costs more CPU
        than building the events here); on a thread when recording must read the store."""
        written = self.calls.submit_auction(command)
        if written is not None:
            try:
                await asyncio.wrap_future(written)
                return
            except VersionConflict:  # decided again, with the store's look-ups
                pass
        await in_thread(self.executor, self.calls.record_auction, command)

    async def _record(
        self,
        auction: _Auction,
        winner: Candidate | None,
        *,
        reason: NoBuyerReason | None = None,
        hold_id: str | None = None,
        expires_at: datetime | None = None,
        started: float,
        decided_at: float | None = None,
    ) -> PingResult:
        command = RecordAuction(
            call_id=auction.call_id,
            campaign_id=auction.campaign.campaign_id,
            publisher_id=auction.request.publisher_id,
            caller_hash=auction.caller_hash,
            geo=auction.request.geo.to_dict(),
            attribution=auction.request.attribution,
            tags=auction.request.tags,
            market=auction.snapshot.market,
            bids=auction.outcomes(),
            rule_version=AUCTION_RULES_VERSION,
            mode=auction.campaign.distribution,
            seed=auction.seed,
            floor_cents=auction.campaign.floor_cents,
            rr_cursor=auction.rr_cursor,
            ranking=tuple(auction.ranking),
            excluded=auction.excluded,
            skipped=tuple(auction.skipped),
            winner_target_id=winner.target_id if winner else None,
            no_buyer_reason=None if winner else reason,
            hold_id=hold_id,
            expires_at=expires_at,
            campaign_version=auction.campaign.version,
            fresh_call_id=auction.request.call_id is None,
            consent=None if auction.request.consent is None else auction.request.consent.to_json(),
        )
        decision_ms = ((decided_at or asyncio.get_running_loop().time()) - started) * 1000
        await self._record_auction(command)
        bid_count = len(auction.bids)
        timed_out = sum(1 for b in command.bids if b.outcome == BidOutcomeKind.TIMED_OUT)
        if winner is None:
            return PingResult(
                auction.call_id,
                False,
                reason,
                None,
                None,
                None,
                bid_count,
                decision_ms=decision_ms,
                bids_timed_out=timed_out,
            )
        expires_at = present(expires_at, "an accepted ping's bid has an expiry")
        state = BidState.won(
            auction.request.publisher_id,
            winner,
            present(hold_id, "a won auction holds the winner's funds"),
            expires_at,
            bid_count,
        )
        ttl_ms = to_ms(expires_at) - to_ms(auction.at)
        await self.hot.save_ping(
            auction.snapshot.market,
            auction.call_id,
            state,
            auction.campaign.campaign_id,
            auction.request.publisher_id,
            auction.caller_hash,
            ttl_ms + CALL_MAX_S * 1000,
            ttl_ms,
        )
        return PingResult(
            auction.call_id,
            True,
            None,
            winner.price_cents,
            winner.payout_cents,
            expires_at,
            bid_count,
            winner=state.winner,
            decision_ms=decision_ms,
            bids_timed_out=timed_out,
        )


def ping_limit(snapshot: MarketSnapshot, publisher_id: str) -> Limit:
    """The publisher's ping limit: its own, or the defaults."""
    rate_per_s, burst = snapshot.ping_limits.get(publisher_id, (None, None))
    return Limit(
        PING_SCOPE,
        rate_per_s or present(PING_RATE_PER_S.default, "a default ping rate"),
        burst or present(PING_BURST.default, "a default ping burst"),
    )


def _refuse_suspended(snapshot: MarketSnapshot, publisher_id: str) -> None:
    if publisher_id in snapshot.suspended_publishers:
        raise Suspended(f"publisher {publisher_id} is suspended: its pings are refused")


@dataclass
class _Auction:
    """The working state of one ping's auction."""

    call_id: str
    request: PingRequest
    campaign: CampaignRule
    snapshot: MarketSnapshot
    caller_hash: str
    at: datetime
    seed: int
    started: float  # the event loop's clock when the ping arrived
    standing: list[TargetRule] = field(default_factory=list)
    below_floor: list[TargetRule] = field(default_factory=list)
    rtb: list[RtbAnswer] = field(default_factory=list)
    bids: list[Bid] = field(default_factory=list)
    answers: dict[str, RtbAnswer] = field(default_factory=dict)
    excluded: dict[str, ExclusionReason] = field(default_factory=dict)
    ranking: list[Candidate] = field(default_factory=list)
    skipped: list[tuple[str, ExclusionReason]] = field(default_factory=list)
    rr_cursor: int = 0

    def add_rtb(self, answer: RtbAnswer) -> None:
        self.rtb.append(answer)
        outcome = answer.outcome
        if outcome.outcome == BidOutcomeKind.RECEIVED:
            self.bids.append(
                Bid(
                    outcome.target_id,
                    outcome.buyer_id,
                    present(outcome.amount_cents, "a received bid has an amount"),
                    outcome.priority,
                    outcome.weight,
                )
            )
            self.answers[outcome.target_id] = answer

    def outcomes(self) -> tuple[BidOutcome, ...]:
        """Every bidder's outcome, for the events (built after the decision, off its path)."""
        standing = [
            BidOutcome(
                t.target_id,
                t.buyer_id,
                BidOutcomeKind.RECEIVED,
                amount_cents=t.bid_cents,
                source=BidSource.STANDING,
                priority=t.priority,
                weight=t.weight,
                target_version=t.version,
            )
            for t in self.standing
        ]
        below = [
            BidOutcome(
                t.target_id,
                t.buyer_id,
                BidOutcomeKind.REJECTED,
                amount_cents=t.bid_cents,
                reason="below_floor",
                source=BidSource.STANDING,
                priority=t.priority,
                weight=t.weight,
            )
            for t in self.below_floor
        ]
        return (*standing, *below, *(a.outcome for a in self.rtb))
