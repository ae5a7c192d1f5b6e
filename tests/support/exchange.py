"""Helpers to set up markets for exchange tests through the real handlers."""

from __future__ import annotations

from typing import Any

from domain.geo import Geo
from exchange.service import PingRequest
from handlers import parse
from ppcx.bootstrap import Domain, ExchangeRuntime

CA = Geo("CA", "90210", "310")


def publisher_and_campaign(domain: Domain, **campaign: Any) -> tuple[str, str]:
    publisher_id = domain.setup.register_publisher(parse.register_publisher(name="Pub", by="test"))
    args: dict[str, Any] = {
        "name": "Injury",
        "vertical": "legal",
        "publisher_payout": {"fixed": "30.00"},
        "min_margin": "5.00",
        "by": "test",
    }
    args.update(campaign)
    campaign_id = domain.setup.create_campaign(parse.create_campaign(**args))
    domain.setup.allow_publisher(
        parse.allow_publisher(campaign_id=campaign_id, publisher_id=publisher_id, by="test")
    )
    return publisher_id, campaign_id


def buyer_with_target(
    domain: Domain,
    campaign_id: str,
    *,
    deposit: str = "10000.00",
    time_zone: str = "UTC",
    credit_limit: str = "0.00",
    **target: Any,
) -> tuple[str, str]:
    buyer_id = domain.setup.register_buyer(
        parse.register_buyer(
            name="Buyer", time_zone=time_zone, by="test", credit_limit=credit_limit
        )
    )
    if deposit != "0.00":
        domain.setup.deposit(
            parse.deposit_funds(buyer_id=buyer_id, amount=deposit, reference="wire", by="test")
        )
    args: dict[str, Any] = {
        "buyer_id": buyer_id,
        "campaign_id": campaign_id,
        "name": "T",
        "destination": "+13105550100",
        "by": "test",
    }
    if "rtb_url" not in target:
        args["bid"] = "45.00"
    args.update(target)
    target_id = domain.setup.create_target(parse.create_target(**args))
    return buyer_id, target_id


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
    return f"+1310555{n:04d}"
