"""Bad input to any command raises a clear domain error and records nothing: the parsing
layer (`handlers.parse`, which the API and the CLI share) refuses malformed values, the
handlers what the store says no to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from domain.commands import CreateCampaign, CreateTarget
from domain.errors import DomainError, NotFound, ValidationError
from handlers import parse
from ppcx.bootstrap import Domain
from tests.support.market import Market, build_market

pytestmark = pytest.mark.integration
UNKNOWN_BUYER = "buy_" + "0" * 32
UNKNOWN_CAMPAIGN = "cmp_" + "0" * 32
KEY_ID = "key_" + "0" * 32


def _campaign(**kw: Any) -> CreateCampaign:
    args: dict[str, Any] = {
        "name": "C",
        "vertical": "legal",
        "publisher_payout": {"fixed": "30.00"},
        "by": "t",
    }
    args.update(kw)
    return parse.create_campaign(**args)


def _target(m: Market, **kw: Any) -> CreateTarget:
    args: dict[str, Any] = {
        "buyer_id": m.buyers[0],
        "campaign_id": m.campaign_id,
        "name": "T",
        "destination": "+13105550100",
        "bid": "50.00",
        "by": "t",
    }
    args.update(kw)
    return parse.create_target(**args)


CASES: list[tuple[str, Callable[[Domain, Market], object], type[DomainError], str]] = [
    (
        "negative deposit",
        lambda d, m: d.setup.deposit(
            parse.deposit_funds(buyer_id=m.buyers[0], amount="-5.00", reference="r", by="t")
        ),
        ValidationError,
        "amount",
    ),
    (
        "fractional cents",
        lambda d, m: d.setup.deposit(
            parse.deposit_funds(buyer_id=m.buyers[0], amount="5.005", reference="r", by="t")
        ),
        ValidationError,
        "amount",
    ),
    (
        "float amount",
        lambda d, m: d.setup.deposit(
            parse.deposit_funds(buyer_id=m.buyers[0], amount=5.0, reference="r", by="t")
        ),
        ValidationError,
        "amount",
    ),  # type: ignore[arg-type]
    (
        "zero deposit",
        lambda d, m: d.setup.deposit(
            parse.deposit_funds(buyer_id=m.buyers[0], amount="0.00", reference="r", by="t")
        ),
        ValidationError,
        "amount",
    ),
    (
        "unknown buyer",
        lambda d, m: d.setup.deposit(
            parse.deposit_funds(buyer_id=UNKNOWN_BUYER, amount="5.00", reference="r", by="t")
        ),
        NotFound,
        "buyer_id",
    ),
    (  # the id a command acts on (a path's id): malformed, it names nothing
        "malformed subject id",
        lambda d, m: d.setup.deposit(
            parse.deposit_funds(buyer_id="nope", amount="5.00", reference="r", by="t")
        ),
        NotFound,
        "buyer_id",
    ),
    (  # an id a command refers to (a body's field) is invalid input
        "malformed referenced id",
        lambda d, m: d.setup.create_target(_target(m, buyer_id="nope")),
        ValidationError,
        "buyer_id",
    ),
    (
        "empty publisher name",
        lambda d, m: d.setup.register_publisher(parse.register_publisher(name="  ", by="t")),
        ValidationError,
        "name",
    ),
    (
        "empty buyer name",
        lambda d, m: d.setup.register_buyer(parse.register_buyer(name="", time_zone="UTC", by="t")),
        ValidationError,
        "name",
    ),
    (
        "unknown time zone",
        lambda d, m: d.setup.register_buyer(
            parse.register_buyer(name="B", time_zone="Nowhere", by="t")
        ),
        ValidationError,
        "time_zone",
    ),
    (
        "float credit limit",
        lambda d, m: d.setup.change_credit_limit(
            parse.change_credit_limit(buyer_id=m.buyers[0], credit_limit=10.5, by="t")
        ),
        ValidationError,
        "credit_limit",
    ),  # type: ignore[arg-type]
    (
        "share above one",
        lambda d, m: d.setup.create_campaign(_campaign(publisher_payout={"share": "1.20"})),
        ValidationError,
        "publisher_payout.share",
    ),
    (
        "negative share",
        lambda d, m: d.setup.create_campaign(_campaign(publisher_payout={"share": "-0.20"})),
        ValidationError,
        "publisher_payout.share",
    ),
    (
        "payout could exceed a bid",
        lambda d, m: d.setup.create_campaign(_campaign(min_bid="20.00")),
        ValidationError,
        "min_bid",
    ),
    (
        "bad distribution",
        lambda d, m: d.setup.create_campaign(_campaign(distribution="lottery")),
        ValidationError,
        "distribution",
    ),
    (
        "bad vertical",
        lambda d, m: d.setup.create_campaign(_campaign(vertical="Legal Stuff")),
        ValidationError,
        "vertical",
    ),
    (
        "allow unknown publisher",
        lambda d, m: d.setup.allow_publisher(
            parse.allow_publisher(campaign_id=m.campaign_id, publisher_id="pub_" + "0" * 32, by="t")
        ),
        NotFound,
        "publisher_id",
    ),
    (
        "target on unknown campaign",
        lambda d, m: d.setup.create_target(_target(m, campaign_id=UNKNOWN_CAMPAIGN)),
        NotFound,
        "campaign_id",
    ),
    (
        "bid and rtb",
        lambda d, m: d.setup.create_target(_target(m, rtb_url="http://127.0.0.1:9/bid")),
        ValidationError,
        "bid",
    ),
    (
        "bid below floor",
        lambda d, m: d.setup.create_target(_target(m, bid="31.00")),
        ValidationError,
        "amount",
    ),
    (
        "bad destination",
        lambda d, m: d.setup.create_target(_target(m, destination="555-0100")),
        ValidationError,
        "destination",
    ),
    (
        "bad geo state",
        lambda d, m: d.setup.create_target(_target(m, geo={"states": ["ZZ"]})),
        ValidationError,
        "geo.states",
    ),
    (
        "bad caps",
        lambda d, m: d.setup.create_target(_target(m, caps={"concurrency": -1})),
        ValidationError,
        "caps.concurrency",
    ),
    (
        "standing bid float",
        lambda d, m: d.setup.set_standing_bid(
            parse.set_standing_bid(target_id=m.targets[0], amount=50.0, by="t")
        ),
        ValidationError,
        "amount",
    ),  # type: ignore[arg-type]
    (
        "other buyer's target",
        lambda d, m: d.setup.set_standing_bid(
            parse.set_standing_bid(
                target_id=m.targets[0], amount="50.00", by="t", buyer_id=m.buyers[1]
            )
        ),
        NotFound,
        "target_id",
    ),
    (
        "bad tracking number",
        lambda d, m: d.setup.provision_number(
            parse.provision_number(
                number="12345",
                campaign_id=m.campaign_id,
                publisher_id=m.publisher_id,
                source="google",
                by="t",
            )
        ),
        ValidationError,
        "number",
    ),
    (
        "empty pool",
        lambda d, m: d.setup.create_number_pool(
            parse.create_number_pool(
                name="P", campaign_id=m.campaign_id, publisher_id=m.publisher_id, numbers=(), by="t"
            )
        ),
        ValidationError,
        "numbers",
    ),
    (
        "key without owner",
        lambda d, m: d.setup.issue_api_key(
            parse.issue_api_key(
                role="buyer", owner_id=None, key_hash="h", label="", key_id=KEY_ID, by="t"
            )
        ),
        ValidationError,
        "owner_id",
    ),
    (
        "unknown role",
        lambda d, m: d.setup.issue_api_key(
            parse.issue_api_key(
                role="root", owner_id=None, key_hash="h", label="", key_id=KEY_ID, by="t"
            )
        ),
        ValidationError,
        "role",
    ),
]


@pytest.mark.parametrize(("case", "run", "error", "field"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_and_records_nothing(
    domain: Domain,
    case: str,
    run: Callable[[Domain, Market], object],
    error: type[DomainError],
    field: str,
) -> None:
    market = build_market(domain)
    before = domain.app.store.head()
    with pytest.raises(error) as raised:
        run(domain, market)
    assert raised.value.field == field
    assert raised.value.message
    assert domain.app.store.head() == before
