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
from domain.ids import new_id
from ppcx.bootstrap import Domain, build_domain
from ppcx.settings import Settings
from tests.support.log import event_names
from tests.support.market import Market, build_market


@pytest.fixture
def grouped(domain: Domain) -> Domain:
    """The domain fixture commits in groups, as production does."""
    assert domain.writer.group_commit
    return domain


@pytest.fixture
def ungrouped(local_settings: Settings, clock: ManualClock) -> Iterator[Domain]:
    """A domain whose writer commits on the caller's thread."""
    built = build_domain(local_settings, clock=clock)
    try:
        yield built
    finally:
        built.close()


def _read_campaign(market: Market) -> Campaign:
    return market.domain.app.load_at_least(Campaign, market.campaign_id, "campaign_id", version=0)


def test_a_queued_auction_is_durable_when_its_future_settles(grouped: Domain) -> None:
    market = build_market(grouped)
    _read_campaign(market)
    command = market.auction_command(market.targets)
    written = grouped.calls.submit_auction(command)
    assert written is not None
    result = written.result(timeout=30)
    assert result.call_id == command.call_id
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
    assert written.result(timeout=30).call_id == command.call_id
    assert grouped.app.load(Call, command.call_id, "call_id").status == "no_buyer"


def test_recording_that_must_read_the_store_is_left_to_a_thread(
    grouped: Domain, ungrouped: Domain
) -> None:
    market = build_market(grouped)
    # the campaign was never read by this process
    assert grouped.app.read_at_least(Campaign, market.campaign_id, version=0) is None
    assert grouped.calls.submit_auction(market.auction_command(market.targets)) is None
    _read_campaign(market)
    # an id from outside may be recorded already
    given = market.auction_command(market.targets, call_id=new_id("call"))
    assert grouped.calls.submit_auction(given) is None
    # the blocking path records it, once
    first = grouped.calls.record_auction(given)
    assert grouped.calls.record_auction(given) == first
    # without group commit, the writer would commit on the caller's thread
    plain = build_market(ungrouped)
    _read_campaign(plain)
    assert ungrouped.calls.submit_auction(plain.auction_command(plain.targets)) is None


def test_a_campaign_read_before_it_changed_is_read_again(grouped: Domain) -> None:
    """Read-your-writes: the exchange decided on a newer version of the campaign than the
    one this process read, so recording reads the store (a publisher allowed a moment ago
    is not refused by a stale copy)."""
    market = build_market(grouped)
    read = _read_campaign(market)
    newer = market.auction_command(market.targets, campaign_version=read.version + 1)
    assert grouped.calls.submit_auction(newer) is None
    current = market.auction_command(market.targets, campaign_version=read.version)
    assert grouped.calls.submit_auction(current) is not None
