"""`CallHandlers.submit_auction`: the exchange records an auction from its event loop by
queueing it to the writer and awaiting the future, when recording needs no read of the store;
otherwise it says so (None) and the blocking `record_auction` runs on a thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.buyer import Buyer
from domain.call import Call
from domain.campaign import Campaign
from domain.clock import ManualClock
from domain.errors import InsufficientFunds
from domain.handlers import calls as calls_handlers
from domain.ids import new_id
from ppcx.bootstrap import Domain, build_domain
from ppcx.settings import Settings
from tests.support.log import event_names
from tests.support.market import Market, build_market

CAMPAIGN_READ_MAX_AGE_S = 3600.0  # a read's age never decides these tests


@pytest.fixture(autouse=True)
def reads_stay_recent(monkeypatch: pytest.MonkeyPatch) -> None:
    """The handlers' interval (a quarter of a second) made as long as an hour: a test that
    reads the campaign and then submits must not depend on how quickly the machine gets from
    one to the other."""
    monkeypatch.setattr(calls_handlers, "CAMPAIGN_READ_MAX_AGE_S", CAMPAIGN_READ_MAX_AGE_S)


@pytest.fixture
def grouped(settings: Settings, clock: ManualClock) -> Iterator[Domain]:
    built = build_domain(settings, clock=clock, group_commit=True)
    try:
        yield built
    finally:
        built.close()


def _read_campaign(market: Market) -> None:
    market.domain.app.load_recent(
        Campaign, market.campaign_id, "campaign_id", max_age_s=CAMPAIGN_READ_MAX_AGE_S
    )


def test_a_queued_auction_is_durable_when_its_future_settles(grouped: Domain) -> None:
    market = build_market(grouped)
    _read_campaign(market)
    command = market.auction_command(market.targets)
    written = grouped.calls.submit_auction(command)
    assert written is not None
    result = written.result(timeout=30)
    assert result["call_id"] == command.call_id
    call = grouped.app.load(Call, command.call_id, "call_id")
    assert call.status == "decided"
    assert event_names(grouped.app)[-1] == "Buyer.HoldPlaced"
    buyer = grouped.app.load(Buyer, market.buyers[0], "buyer_id")
    assert buyer.debits_pending == market.prices[market.targets[0]]


def test_a_refused_hold_settles_the_future_with_the_refusal(grouped: Domain) -> None:
    market = build_market(grouped, deposit="0.00")
    _read_campaign(market)
    command = market.auction_command(market.targets)
    written = grouped.calls.submit_auction(command)
    assert written is not None
    with pytest.raises(InsufficientFunds):
        written.result(timeout=30)
    assert grouped.app.find(Call, command.call_id) is None  # nothing of it was written


def test_an_auction_without_a_winner_is_queued_too(grouped: Domain) -> None:
    market = build_market(grouped)
    _read_campaign(market)
    command = market.auction_command([])
    written = grouped.calls.submit_auction(command)
    assert written is not None
    assert written.result(timeout=30)["call_id"] == command.call_id
    assert grouped.app.load(Call, command.call_id, "call_id").status == "no_buyer"


def test_recording_that_must_read_the_store_is_left_to_a_thread(
    grouped: Domain, domain: Domain
) -> None:
    market = build_market(grouped)
    # the campaign was not read in the last interval
    assert (
        grouped.app.read_recently(Campaign, market.campaign_id, max_age_s=CAMPAIGN_READ_MAX_AGE_S)
        is None
    )
    assert grouped.calls.submit_auction(market.auction_command(market.targets)) is None
    _read_campaign(market)
    # an id from outside may be recorded already
    given = market.auction_command(market.targets, call_id=new_id("call"))
    assert grouped.calls.submit_auction(given) is None
    # the blocking path records it, once
    first = grouped.calls.record_auction(given)
    assert grouped.calls.record_auction(given) == first
    # without group commit, the writer would commit on the caller's thread
    plain = build_market(domain)
    _read_campaign(plain)
    assert domain.calls.submit_auction(plain.auction_command(plain.targets)) is None
