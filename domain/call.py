"""A call: the life of one ping, from the auction to the billing decision and after.

    PingReceived → BidReceived / BidRejected / BidTimedOut (one per bidder)
      → AuctionDecided (hold placed on the winner) | NoBuyerFound
      → PingExpired (hold voided) | PostRefused (blocked caller: hold voided)
      | CallPosted → CallRouted(attempt 1)
          → CallAnswered → CallCompleted → CallBilled | CallNotBilled
          → CallFailedOver → CallRouted(attempt n+1) … | (none left) CallCompleted, CallNotBilled
      → CallConverted, CallDisputed → DisputeResolved

The call owns its holds: it knows each hold's buyer, amount and status, and refuses to post
or void a hold twice (the buyer's account only moves the money). `AuctionDecided` records the
decision's rule version, mode, seed, floor and ranking, so replay can re-run it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain.base import PPCXAggregate
from domain.billing import BILLING_RULES_VERSION
from domain.errors import Conflict, Expired, Refused
from domain.invariant import invariant, present

RANKING_KEPT_MAX = 16  # candidates recorded for failover and replay (a bound on event size)


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
        status: str
        bid_targets: list[str]
        bids_rejected: int
        bids_timed_out: int
        decision: dict[str, Any] | None
        ranking: list[dict[str, Any]]
        expires_at: datetime | None
        attempt: int
        route: dict[str, Any] | None
        holds: dict[str, dict[str, Any]]
        answered: bool
        duration_s: int
        billing: dict[str, Any] | None
        converted: bool
        conversion_value_cents: int | None
        disputes: dict[str, dict[str, Any]]

    # -- events -----------------------------------------------------------------------------
    class PingReceived(PPCXAggregate.Created):
        campaign_id: str
        publisher_id: str
        caller_hash: str
        geo: dict[str, Any]
        attribution: dict[str, Any]
        tags: dict[str, str]
        market: str

        def apply(self, aggregate: Call) -> None:
            aggregate.campaign_id = self.campaign_id
            aggregate.publisher_id = self.publisher_id
            aggregate.caller_hash = self.caller_hash
            aggregate.geo = self.geo
            aggregate.attribution = self.attribution
            aggregate.tags = self.tags
            aggregate.market = self.market
            aggregate.status = "pinged"
            aggregate.bid_targets = []
            aggregate.bids_rejected = 0
            aggregate.bids_timed_out = 0
            aggregate.decision = None
            aggregate.ranking = []
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

    class BidReceived(PPCXAggregate.Event):
        target_id: str
        buyer_id: str
        amount_cents: int
        source: str  # "standing" | "rtb"
        latency_ms: int
        priority: int
        weight: int

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
        ranking: list[dict[str, Any]]
        winner_target_id: str
        winner_buyer_id: str
        price_cents: int
        payout_cents: int
        hold_id: str
        expires_at: datetime
        excluded: dict[str, str]
        skipped: list[list[str]]

        def apply(self, aggregate: Call) -> None:
            aggregate.status = "decided"
            aggregate.decision = {
                "rule_version": self.rule_version,
                "mode": self.mode,
                "seed": self.seed,
                "floor_cents": self.floor_cents,
                "rr_cursor": self.rr_cursor,
            }
            aggregate.ranking = self.ranking
            aggregate.expires_at = self.expires_at
            winner = next(c for c in self.ranking if c["target_id"] == self.winner_target_id)
            aggregate.route = {**winner, "hold_id": self.hold_id}
            aggregate.holds[self.hold_id] = {
                "buyer_id": self.winner_buyer_id,
                "target_id": self.winner_target_id,
                "amount_cents": self.price_cents,
                "payout_cents": self.payout_cents,
                "status": "pending",
            }

    class NoBuyerFound(PPCXAggregate.Event):
        reason: str
        excluded: dict[str, str]
        skipped: list[list[str]]

        def apply(self, aggregate: Call) -> None:
            aggregate.status = "no_buyer"

    class PingExpired(PPCXAggregate.Event):
        hold_id: str

        def apply(self, aggregate: Call) -> None:
            aggregate.status = "expired"
            aggregate.holds[self.hold_id]["status"] = "voided"

    class PostRefused(PPCXAggregate.Event):
        """The publisher posted the call, and the exchange refused to route it (the caller
        was put on the block list after the ping); the winner's hold is voided."""

        reason: str
        hold_id: str

        def apply(self, aggregate: Call) -> None:
            aggregate.status = "refused"
            aggregate.holds[self.hold_id]["status"] = "voided"

    class CallPosted(PPCXAggregate.Event):
        def apply(self, aggregate: Call) -> None:
            aggregate.status = "posted"

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
            aggregate.status = "routing"
            aggregate.attempt = self.attempt
            aggregate.route = {
                "target_id": self.target_id,
                "buyer_id": self.buyer_id,
                "destination": self.destination,
                "price_cents": self.price_cents,
                "payout_cents": self.payout_cents,
                "buffer_s": self.buffer_s,
                "hold_id": self.hold_id,
            }
            if self.hold_id not in aggregate.holds:
                aggregate.holds[self.hold_id] = {
                    "buyer_id": self.buyer_id,
                    "target_id": self.target_id,
                    "amount_cents": self.price_cents,
                    "payout_cents": self.payout_cents,
                    "status": "pending",
                }

    class CallAnswered(PPCXAggregate.Event):
        attempt: int

        def apply(self, aggregate: Call) -> None:
            aggregate.status = "answered"
            aggregate.answered = True

    class CallFailedOver(PPCXAggregate.Event):
        attempt: int
        reason: str
        target_id: str
        hold_id: str
        next_target_id: str | None
        skipped: list[list[str]]

        def apply(self, aggregate: Call) -> None:
            aggregate.holds[self.hold_id]["status"] = "voided"
            aggregate.status = "failing_over" if self.next_target_id else "unrouted"

    class CallCompleted(PPCXAggregate.Event):
        duration_s: int
        answered: bool

        def apply(self, aggregate: Call) -> None:
            aggregate.status = "completed"
            aggregate.duration_s = self.duration_s

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
            aggregate.status = "billed"
            aggregate.holds[self.hold_id]["status"] = "posted"
            aggregate.billing = {
                "billable": True,
                "reason": "billable",
                "hold_id": self.hold_id,
                "buyer_id": self.buyer_id,
                "revenue_cents": self.revenue_cents,
                "payout_cents": self.payout_cents,
                "margin_cents": self.margin_cents,
            }

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
            aggregate.status = "not_billed"
            if self.hold_id is not None and aggregate.holds[self.hold_id]["status"] == "pending":
                aggregate.holds[self.hold_id]["status"] = "voided"
            aggregate.billing = {
                "billable": False,
                "reason": self.reason,
                "hold_id": self.hold_id,
                "buyer_id": self.buyer_id,
                "revenue_cents": 0,
                "payout_cents": 0,
                "margin_cents": 0,
            }

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
            aggregate.disputes[self.dispute_id] = {"status": "open", "reason": self.reason}

    class DisputeResolved(PPCXAggregate.Event):
        dispute_id: str
        accepted: bool
        note: str
        reversal_transfer_id: str | None
        by: str

        def apply(self, aggregate: Call) -> None:
            dispute = aggregate.disputes[self.dispute_id]
            dispute["status"] = "accepted" if self.accepted else "rejected"
            if self.accepted:
                aggregate.status = "reversed"

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
            timestamp=at,
        )

    def _require_status(self, *allowed: str, action: str) -> None:
        if self.status not in allowed:
            raise Conflict(f"call {self.id} is {self.status}; cannot {action}")

    def record_bid(
        self,
        target_id: str,
        buyer_id: str,
        amount_cents: int,
        source: str,
        latency_ms: int,
        priority: int,
        weight: int,
        at: datetime,
    ) -> None:
        self._require_status("pinged", action="record a bid")
        self.trigger_event(
            self.BidReceived,
            target_id=target_id,
            buyer_id=buyer_id,
            amount_cents=amount_cents,
            source=source,
            latency_ms=latency_ms,
            priority=priority,
            weight=weight,
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
        self._require_status("pinged", action="record a bid")
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
        self._require_status("pinged", action="record a bid")
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
        mode: str,
        seed: int,
        floor_cents: int,
        rr_cursor: int,
        ranking: list[dict[str, Any]],
        winner_target_id: str,
        hold_id: str,
        expires_at: datetime,
        excluded: dict[str, str],
        skipped: list[list[str]],
        at: datetime,
    ) -> dict[str, Any]:
        self._require_status("pinged", action="decide an auction")
        winner = present(
            next((c for c in ranking if c["target_id"] == winner_target_id), None),
            "the winner is one of the ranked candidates",
        )
        invariant(winner_target_id in self.bid_targets, "the winner placed a bid")
        invariant(winner["price_cents"] >= floor_cents, "the price is not below the floor")
        invariant(expires_at > at, "a bid expires after it is made")
        self.trigger_event(
            self.AuctionDecided,
            rule_version=rule_version,
            mode=mode,
            seed=seed,
            floor_cents=floor_cents,
            rr_cursor=rr_cursor,
            ranking=ranking[:RANKING_KEPT_MAX],
            winner_target_id=winner_target_id,
            winner_buyer_id=winner["buyer_id"],
            price_cents=winner["price_cents"],
            payout_cents=winner["payout_cents"],
            hold_id=hold_id,
            expires_at=expires_at,
            excluded=excluded,
            skipped=skipped,
            timestamp=at,
        )
        return winner

    def find_no_buyer(
        self, reason: str, excluded: dict[str, str], skipped: list[list[str]], at: datetime
    ) -> None:
        self._require_status("pinged", action="close the auction")
        self.trigger_event(
            self.NoBuyerFound, reason=reason, excluded=excluded, skipped=skipped, timestamp=at
        )

    def pending_hold(self) -> tuple[str, dict[str, Any]] | None:
        pending = [(h, v) for h, v in self.holds.items() if v["status"] == "pending"]
        invariant(len(pending) <= 1, f"call {self.id} has more than one pending hold")
        return pending[0] if pending else None

    def expire(self, at: datetime) -> tuple[str, dict[str, Any]]:
        self._require_status("decided", action="expire")
        expires_at = present(self.expires_at, "a decided call's bid has an expiry")
        if at < expires_at:
            raise Conflict(f"call {self.id} does not expire before {expires_at.isoformat()}")
        held = present(self.pending_hold(), "a decided call holds the winner's funds")
        self.trigger_event(self.PingExpired, hold_id=held[0], timestamp=at)
        return held

    def refuse_post(self, reason: str, at: datetime) -> tuple[str, dict[str, Any]]:
        """Refuse to route an unexpired, unposted bid (its hold is voided by the caller)."""
        self._require_status("decided", action="refuse the post")
        held = present(self.pending_hold(), "a decided call holds the winner's funds")
        self.trigger_event(self.PostRefused, reason=reason, hold_id=held[0], timestamp=at)
        return held

    def post(self, at: datetime) -> dict[str, Any]:
        if self.status == "refused":
            raise Refused("the post of this call was refused", reason="blocked")
        if self.status in (
            "posted",
            "routing",
            "answered",
            "failing_over",
            "completed",
            "billed",
            "not_billed",
            "unrouted",
            "reversed",
        ):
            raise Conflict(f"call {self.id} was already posted")
        if self.status == "expired" or (
            self.status == "decided" and self.expires_at is not None and at >= self.expires_at
        ):
            raise Expired(f"the bid for call {self.id} expired")
        self._require_status("decided", action="post")
        route = present(self.route, "a decided call has its winner's route")
        self.trigger_event(self.CallPosted, timestamp=at)
        self._route(1, route, route["hold_id"], at)
        return route

    def _route(self, attempt: int, candidate: dict[str, Any], hold_id: str, at: datetime) -> None:
        self.trigger_event(
            self.CallRouted,
            attempt=attempt,
            target_id=candidate["target_id"],
            buyer_id=candidate["buyer_id"],
            destination=candidate["destination"],
            price_cents=candidate["price_cents"],
            payout_cents=candidate["payout_cents"],
            buffer_s=candidate["buffer_s"],
            hold_id=hold_id,
            timestamp=at,
        )

    def answer(self, at: datetime) -> None:
        self._require_status("routing", action="answer")
        self.trigger_event(self.CallAnswered, attempt=self.attempt, timestamp=at)

    def tried_targets(self) -> set[str]:
        return {h["target_id"] for h in self.holds.values()}

    def fail_over(
        self,
        reason: str,
        next_candidate: dict[str, Any] | None,
        next_hold_id: str | None,
        skipped: list[list[str]],
        at: datetime,
    ) -> tuple[str, dict[str, Any]]:
        """The current attempt failed: its hold is voided; route to `next_candidate` if any."""
        self._require_status("routing", action="fail over")
        held = present(self.pending_hold(), "a routed call holds its buyer's funds")
        route = present(self.route, "a routed call has a route")
        self.trigger_event(
            self.CallFailedOver,
            attempt=self.attempt,
            reason=reason,
            target_id=route["target_id"],
            hold_id=held[0],
            next_target_id=next_candidate["target_id"] if next_candidate else None,
            skipped=skipped,
            timestamp=at,
        )
        if next_candidate is not None:
            next_hold_id = present(next_hold_id, "a failover to a target opens a hold")
            invariant(next_hold_id not in self.holds, "a failover opens a new hold")
            invariant(
                next_candidate["target_id"] not in self.tried_targets(),
                "a failover goes to a target not tried yet",
            )
            self._route(self.attempt + 1, next_candidate, next_hold_id, at)
        else:
            self.trigger_event(self.CallCompleted, duration_s=0, answered=False, timestamp=at)
            self.trigger_event(
                self.CallNotBilled,
                reason="not_answered",
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
        reason: str,
        revenue_cents: int,
        payout_cents: int,
        margin_cents: int,
        duplicate_of: str | None,
        blocked: bool,
        at: datetime,
    ) -> tuple[str, dict[str, Any]]:
        """Record the end of the call and its billing decision; the caller posts or voids."""
        self._require_status("routing", "answered", action="complete")
        held = present(self.pending_hold(), "a routed call holds its buyer's funds")
        route = present(self.route, "a routed call has a route")
        hold_id, hold = held
        answered = self.status == "answered"
        self.trigger_event(
            self.CallCompleted, duration_s=duration_s, answered=answered, timestamp=at
        )
        if billable:
            invariant(revenue_cents == payout_cents + margin_cents, "revenue = payout + margin")
            invariant(revenue_cents == hold["amount_cents"], "a bill posts the whole hold")
            self.trigger_event(
                self.CallBilled,
                hold_id=hold_id,
                buyer_id=hold["buyer_id"],
                target_id=hold["target_id"],
                revenue_cents=revenue_cents,
                payout_cents=payout_cents,
                margin_cents=margin_cents,
                duration_s=duration_s,
                buffer_s=route["buffer_s"],
                rules_version=BILLING_RULES_VERSION,
                timestamp=at,
            )
        else:
            self.trigger_event(
                self.CallNotBilled,
                reason=reason,
                hold_id=hold_id,
                buyer_id=hold["buyer_id"],
                duration_s=duration_s,
                buffer_s=route["buffer_s"],
                duplicate_of=duplicate_of,
                blocked=blocked,
                rules_version=BILLING_RULES_VERSION,
                timestamp=at,
            )
        return held

    def convert(self, value_cents: int | None, by: str, at: datetime) -> None:
        if self.status not in (
            "routing",
            "answered",
            "completed",
            "billed",
            "not_billed",
            "reversed",
        ):
            raise Conflict(f"call {self.id} was never connected; it cannot convert")
        if self.converted:
            raise Conflict(f"call {self.id} already converted")
        self.trigger_event(self.CallConverted, value_cents=value_cents, by=by, timestamp=at)

    def dispute(self, dispute_id: str, reason: str, by: str, at: datetime) -> None:
        if self.status != "billed":
            raise Conflict(f"call {self.id} is {self.status}; only a billed call can be disputed")
        if any(d["status"] == "open" for d in self.disputes.values()):
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
        if dispute["status"] != "open":
            raise Conflict(f"dispute {dispute_id} is already {dispute['status']}")
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
