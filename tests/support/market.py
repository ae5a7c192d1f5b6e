"""A small market built through the real command handlers, for tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import tools.market
from domain.call_state import BidOutcomeKind, Candidate
from domain.commands import BidOutcome, RecordAuction
from domain.ids import new_id
from domain.money import parse_cents
from ppcx.bootstrap import Domain
from tools.market import BuyerSpec, InProcess, MarketSpec


@dataclass
class Market:
    domain: Domain
    publisher_id: str
    campaign_id: str
    buyers: list[str]
    targets: list[str]
    prices: dict[str, int] = field(default_factory=dict)  # target -> standing bid cents
    owners: dict[str, str] = field(default_factory=dict)  # target -> buyer

    def candidate(self, target_id: str, payout_cents: int = 3000) -> Candidate:
        return Candidate(
            target_id,
            self.owners[target_id],
            self.prices[target_id],
            payout_cents,
            "+13105550100",
            90,
            0,
            1,
        )

    def auction(
        self, ranking_targets: list[str], *, caller_hash: str = "h-caller", ttl_s: int = 60
    ) -> dict[str, Any]:
        """Record an auction won by the first of `ranking_targets` (none: no buyer)."""
        return self.domain.calls.record_auction(
            self.auction_command(ranking_targets, caller_hash=caller_hash, ttl_s=ttl_s)
        )

    def auction_command(
        self,
        ranking_targets: list[str],
        *,
        caller_hash: str = "h-caller",
        ttl_s: int = 60,
        call_id: str | None = None,
        campaign_version: int = 1,
    ) -> RecordAuction:
        """The command of an auction won by the first of `ranking_targets` (none: no buyer);
        `call_id` given: an id from outside (as an Idempotency-Key derives one)."""
        ranking = [self.candidate(t) for t in ranking_targets]
        now = self.domain.clock.now()
        bids = tuple(
            BidOutcome(c.target_id, c.buyer_id, BidOutcomeKind.RECEIVED, amount_cents=c.price_cents)
            for c in ranking
        )
        winner = ranking[0].target_id if ranking else None
        return RecordAuction(
            call_id=call_id or new_id("call"),
            campaign_id=self.campaign_id,
            publisher_id=self.publisher_id,
            caller_hash=caller_hash,
            geo={"state": "CA", "zip": "90210", "area_code": "310"},
            attribution={"source": "google", "keyword": "lawyer"},
            tags={},
            market="main",
            bids=bids,
            rule_version=1,
            mode="auction",
            seed=7,
            floor_cents=3500,
            rr_cursor=0,
            ranking=tuple(ranking),
            excluded={},
            skipped=(),
            winner_target_id=winner,
            no_buyer_reason=None if winner else "no_eligible_buyer",
            hold_id=new_id("hold") if winner else None,
            expires_at=now + timedelta(seconds=ttl_s) if winner else None,
            campaign_version=campaign_version,
            fresh_call_id=call_id is None,
        )


# The campaign the tests' markets share (a `POST /v1/campaigns` body).
CAMPAIGN: dict[str, Any] = {
    "name": "Injury",
    "vertical": "legal",
    "publisher_payout": {"fixed": "30.00"},
    "min_margin": "5.00",
}


def build_market(
    domain: Domain,
    *,
    buyers: int = 2,
    deposit: str = "1000.00",
    credit_limit: str = "0.00",
    bids: tuple[str, ...] = ("45.00", "40.00"),
    payout: dict[str, str] | None = None,
    duplicate_window_days: int = 30,
) -> Market:
    """One publisher on one campaign, `buyers` funded buyers each with a standing bid."""
    spec = MarketSpec(
        campaign={
            **CAMPAIGN,
            "publisher_payout": payout or CAMPAIGN["publisher_payout"],
            "duplicate_window_days": duplicate_window_days,
        },
        buyers=[
            BuyerSpec(
                {
                    "name": f"Buyer {n}",
                    "time_zone": "America/New_York",
                    "credit_limit": credit_limit,
                },
                deposit={"amount": deposit, "reference": "wire"} if deposit != "0.00" else None,
                targets=[
                    {"name": f"T{n}", "destination": "+13105550100", "bid": bids[n % len(bids)]}
                ],
            )
            for n in range(buyers)
        ],
    )
    built = tools.market.build_market(InProcess(domain), spec)
    market = Market(
        domain,
        built.publishers[0].id,
        built.campaign_id,
        [buyer.id for buyer in built.buyers],
        [target for target, _ in built.targets],
    )
    for n, (target, buyer) in enumerate(built.targets):
        market.owners[target] = buyer
        market.prices[target] = parse_cents(bids[n % len(bids)])
    return market
