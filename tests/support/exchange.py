"""Helpers to set up markets for exchange tests through the real handlers."""

from __future__ import annotations

from typing import Any

from domain.geo import Geo
from exchange.ping import PingRequest
from ppcx.bootstrap import Domain, ExchangeRuntime
from tests.support.market import CAMPAIGN
from tools.market import BuyerSpec, InProcess, MarketSpec, add_buyer, build_market

CA = Geo("CA", "90210", "310")


def publisher_and_campaign(domain: Domain, **campaign: Any) -> tuple[str, str]:
    """A publisher allowed on a new campaign (`CAMPAIGN` with `campaign`'s fields)."""
    built = build_market(InProcess(domain), MarketSpec({**CAMPAIGN, **campaign}))
    return built.publishers[0].id, built.campaign_id


def buyer_spec(
    *,
    deposit: str = "10000.00",
    time_zone: str = "UTC",
    credit_limit: str = "0.00",
    **target: Any,
) -> BuyerSpec:
    """A buyer with one target: a standing bid of 45.00 unless `target` says otherwise."""
    bidding = {} if "rtb_url" in target else {"bid": "45.00"}
    return BuyerSpec(
        {"name": "Buyer", "time_zone": time_zone, "credit_limit": credit_limit},
        deposit={"amount": deposit, "reference": "wire"} if deposit != "0.00" else None,
        targets=[{"name": "T", "destination": "+13105550100", **bidding, **target}],
    )


def buyer_with_target(domain: Domain, campaign_id: str, **spec: Any) -> tuple[str, str]:
    """A funded buyer and its target on the campaign (see `buyer_spec`)."""
    buyer, targets = add_buyer(InProcess(domain), campaign_id, buyer_spec(**spec))
    return buyer.id, targets[0]


def sync(runtime: ExchangeRuntime) -> None:
    runtime.sync.catch_up()
    runtime.hot.forget_snapshots()


def ping(
    publisher_id: str, campaign_id: str, caller: str = "+13105550123", **kw: Any
) -> PingRequest:
    return PingRequest(
        campaign_id=campaign_id,
        publisher_id=publisher_id,
        caller_number=caller,
        geo=kw.pop("geo", CA),
        attribution=kw.pop("attribution", {"source": "g"}),
        **kw,
    )


def caller(n: int) -> str:
    """A distinct valid number for each n below 1,000,000 (the exchange screens a number that
    is not: `domain.screening`): +1 310 555 nnnn below 10,000, then +1 310 2xx xxxx."""
    if n < 10_000:
        return f"+1310555{n:04d}"
    return f"+1310{200 + n // 10_000:03d}{n % 10_000:04d}"
