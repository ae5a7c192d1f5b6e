"""The one parsing layer (`handlers.parse`): raw input in the API's field names → typed
commands; the first bad field in a fixed order is the one named; the API's defaults and
the parser's are the same."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pydantic
import pytest
import typer

from api import models
from domain.caps import Caps
from domain.errors import NotFound, ValidationError
from domain.geo import GeoRule
from domain.schedule import WeeklySchedule
from handlers import parse
from ppcx.commands.common import utc_time

pytestmark = pytest.mark.unit
BUYER = "buy_" + "1" * 32
CAMPAIGN = "cmp_" + "2" * 32
PUBLISHER = "pub_" + "3" * 32
TARGET = "tgt_" + "4" * 32
KEY = "key_" + "5" * 32
CALL = "call_" + "6" * 32

# (API body model, parser, the body's required fields, the path's fields)
BODIES: list[
    tuple[type[pydantic.BaseModel], Callable[..., Any], dict[str, Any], dict[str, Any]]
] = [
    (models.PublisherIn, parse.register_publisher, {"name": "Acme"}, {}),
    (
        models.BuyerIn,
        parse.register_buyer,
        {"name": "B", "time_zone": "UTC", "credit_limit": "0.00"},
        {},
    ),
    (models.DepositIn, parse.deposit_funds, {"amount": "10.00"}, {"buyer_id": BUYER}),
    (
        models.CreditLimitIn,
        parse.change_credit_limit,
        {"credit_limit": "5.00"},
        {"buyer_id": BUYER},
    ),
    (
        models.CampaignIn,
        parse.create_campaign,
        {"name": "C", "vertical": "legal", "publisher_payout": {"fixed": "30.00"}},
        {},
    ),
    (
        models.CampaignPublisherIn,
        parse.allow_publisher,
        {"publisher_id": PUBLISHER},
        {"campaign_id": CAMPAIGN},
    ),
    (
        models.TargetIn,
        parse.create_target,
        {"buyer_id": BUYER, "campaign_id": CAMPAIGN, "destination": "+13105550100", "bid": "45.00"},
        {},
    ),
    (models.BidIn, parse.set_standing_bid, {"amount": "45.00"}, {"target_id": TARGET}),
    (models.PauseIn, parse.pause_target, {}, {"target_id": TARGET}),
    (
        models.NumberIn,
        parse.provision_number,
        {
            "number": "+18005550100",
            "campaign_id": CAMPAIGN,
            "publisher_id": PUBLISHER,
            "source": "tv",
        },
        {},
    ),
    (
        models.NumberPoolIn,
        parse.create_number_pool,
        {
            "name": "P",
            "campaign_id": CAMPAIGN,
            "publisher_id": PUBLISHER,
            "numbers": ["+18005550101"],
        },
        {},
    ),
    (models.ConversionIn, parse.convert_call, {}, {"call_id": CALL}),
    (models.DisputeIn, parse.dispute_call, {"reason": "wrong number"}, {"call_id": CALL}),
    (
        models.ResolveIn,
        parse.resolve_dispute,
        {"accept": True},
        {"call_id": CALL, "dispute_id": "d"},
    ),
]


@pytest.mark.parametrize(
    ("model", "parser", "body", "path"), BODIES, ids=[b[0].__name__ for b in BODIES]
)
def test_the_api_and_the_parser_speak_the_same_fields_with_the_same_defaults(
    model: type[pydantic.BaseModel],
    parser: Callable[..., Any],
    body: dict[str, Any],
    path: dict[str, Any],
) -> None:
    parameters = inspect.signature(parser).parameters
    assert set(model.model_fields) <= set(parameters), "a body field the parser does not take"
    through_the_api = parser(**model.model_validate(body).model_dump(), **path, by="t")
    straight = parser(**body, **path, by="t")
    assert through_the_api == straight


def test_a_target_carries_value_objects_and_cents() -> None:
    command = parse.create_target(
        buyer_id=BUYER,
        campaign_id=CAMPAIGN,
        name="T",
        destination="sip:buyer@example.com",
        bid="45.50",
        geo={"mode": "deny", "states": ["CA"]},
        schedule={"time_zone": "America/New_York", "hours": {"mon": [["09:00", "17:00"]]}},
        caps={"daily": 10, "daily_budget": "500.00"},
        by="t",
    )
    assert command.bid_cents == 4550
    assert command.rtb_url is None
    assert command.geo == GeoRule.parse("deny", ["CA"])
    assert command.schedule == WeeklySchedule("America/New_York", {"mon": ((540, 1020),)})
    assert command.caps == Caps(daily=10, daily_budget_cents=50_000)
    campaign = parse.create_campaign(
        name="C", vertical="legal", publisher_payout={"share": "0.70"}, by="t"
    )
    assert campaign.payout.share == Decimal("0.70")
    assert campaign.distribution == "auction"
    assert parse.convert_call(call_id=CALL, value="12.30", by="b").value_cents == 1230


@pytest.mark.parametrize(
    ("parser", "arguments", "field"),
    [
        # the body's referenced ids come first, then the target's own fields in order
        (
            parse.create_target,
            {"buyer_id": "x", "campaign_id": "y", "name": " ", "destination": "0", "bid": "1"},
            "buyer_id",
        ),
        (
            parse.create_target,
            {"buyer_id": BUYER, "campaign_id": CAMPAIGN, "name": " ", "destination": "0"},
            "name",
        ),
        (
            parse.create_target,
            {"buyer_id": BUYER, "campaign_id": CAMPAIGN, "name": "T", "destination": "0"},
            "destination",
        ),
        (
            parse.create_target,
            {
                "buyer_id": BUYER,
                "campaign_id": CAMPAIGN,
                "name": "T",
                "destination": "+13105550100",
            },
            "bid",
        ),
        (
            parse.create_campaign,
            {"name": "", "vertical": "Legal", "publisher_payout": {}},
            "name",
        ),
        (
            parse.create_campaign,
            {"name": "C", "vertical": "Legal", "publisher_payout": {}},
            "vertical",
        ),
        (
            parse.create_campaign,
            {"name": "C", "vertical": "legal", "publisher_payout": {}, "max_attempts": 0},
            "publisher_payout",
        ),
        # money before the id a deposit acts on
        (parse.deposit_funds, {"buyer_id": "nope", "amount": "1.001"}, "amount"),
        (parse.set_standing_bid, {"target_id": "nope", "amount": "x"}, "amount"),
        (
            parse.issue_api_key,
            {"role": "root", "owner_id": None, "label": "x" * 300, "key_hash": "h", "key_id": KEY},
            "role",
        ),
        (
            parse.issue_api_key,
            {"role": "buyer", "owner_id": None, "label": "x" * 300, "key_hash": "h", "key_id": KEY},
            "owner_id",
        ),
        (
            parse.issue_api_key,
            {"role": "admin", "owner_id": None, "label": "x" * 300, "key_hash": "h", "key_id": KEY},
            "label",
        ),
        (parse.dispute_call, {"call_id": "nope", "reason": " wrong"}, "reason"),
        (
            parse.resolve_dispute,
            {"call_id": CALL, "dispute_id": "d", "accept": "yes", "note": 7},
            "note",
        ),
    ],
)
def test_the_first_bad_field_in_order_is_named(
    parser: Callable[..., Any], arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        parser(**arguments, by="t")
    assert raised.value.field == field


def test_a_malformed_id_of_the_object_acted_on_is_not_found() -> None:
    with pytest.raises(NotFound) as raised:
        parse.deposit_funds(buyer_id="nope", amount="1.00", by="t")
    assert raised.value.message == "buyer_id 'nope' does not exist"
    with pytest.raises(NotFound):
        parse.revoke_api_key(key_id="key_x", by="t")


def test_the_command_line_reads_times_with_the_apis_parser() -> None:
    assert utc_time("2026-11-01T00:30:00+02:00", "--at") == datetime(
        2026, 10, 31, 22, 30, tzinfo=UTC
    )
    for bad in ("2026-11-01", "2026-11-01T00:00:00", "2026-11-01T00:00Z", "1772463630"):
        with pytest.raises(typer.Exit) as raised:
            utc_time(bad, "--at")
        assert raised.value.exit_code == 2
