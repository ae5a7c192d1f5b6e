"""The life of a call through the real handlers and a real event store."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.billing import BillingDecision
from domain.buyer import Buyer
from domain.call import Call
from domain.call_state import BillingReason
from domain.clock import ManualClock
from domain.commands import (
    CompleteCall,
    ExpirePing,
    FailOver,
    PostCall,
    RecordAnswer,
)
from domain.errors import Conflict, Expired, InsufficientFunds, NotFound
from domain.ids import new_id
from handlers import parse
from ppcx.bootstrap import Domain
from tests.support.log import event_names, ledger_from_log
from tests.support.market import Market, build_market

pytestmark = pytest.mark.integration


def _available(domain: Domain, buyer_id: str) -> int:
    return domain.app.load(Buyer, buyer_id, "buyer_id").available_cents


def _connect(market: Market, clock: ManualClock, duration_s: int) -> tuple[str, dict[str, object]]:
    won = market.auction([market.targets[0], market.targets[1]])
    call_id = won.call_id
    calls = market.domain.calls
    clock.advance(timedelta(seconds=5))
    calls.post_call(PostCall(call_id))
    calls.record_answer(RecordAnswer(call_id))
    clock.advance(timedelta(seconds=duration_s))
    return call_id, calls.complete_call(CompleteCall(call_id, duration_s))


def test_billed_call_moves_the_money(domain: Domain, clock: ManualClock) -> None:
    market = build_market(domain)
    buyer = market.buyers[0]
    call_id, billing = _connect(market, clock, duration_s=120)
    assert billing == BillingDecision(True, BillingReason.BILLABLE, 4500, 3000, 1500)
    assert _available(domain, buyer) == 100000 - 4500
    ledger = ledger_from_log(domain.app)
    assert ledger.balance(f"publisher:{market.publisher_id}").posted_cents == 3000
    assert ledger.balance("platform:revenue").posted_cents == 1500
    assert ledger.total_net_cents() == 0
    assert not ledger.pending
    names = [n for n in event_names(domain.app) if n.startswith("Call.")]
    assert names == [
        "Call.PingReceived",
        "Call.BidReceived",
        "Call.BidReceived",
        "Call.AuctionDecided",
        "Call.CallPosted",
        "Call.CallRouted",
        "Call.CallAnswered",
        "Call.CallCompleted",
        "Call.CallBilled",
    ]
    # a repeated completion (a webhook retry) returns the decision and records nothing
    before = domain.app.store.head()
    assert domain.calls.complete_call(CompleteCall(call_id, 120)) == billing
    assert domain.app.store.head() == before


def test_below_buffer_voids_the_hold(domain: Domain, clock: ManualClock) -> None:
    market = build_market(domain)
    _, billing = _connect(market, clock, duration_s=89)
    assert billing.billable is False
    assert billing.reason == "below_buffer"
    assert _available(domain, market.buyers[0]) == 100000
    assert ledger_from_log(domain.app).closed_holds.popitem()[1] == "voided"


def test_duplicate_caller_within_window_is_not_billed(domain: Domain, clock: ManualClock) -> None:
    market = build_market(domain, duplicate_window_days=7)
    _, first = _connect(market, clock, duration_s=100)
    clock.advance(timedelta(days=6, hours=23))
    _, second = _connect(market, clock, duration_s=100)
    clock.advance(timedelta(days=7))
    _, third = _connect(market, clock, duration_s=100)
    assert (first.reason, second.reason, third.reason) == (
        "billable",
        "duplicate",
        "billable",
    )


def test_blocked_caller_is_not_billed(domain: Domain, clock: ManualClock) -> None:
    market = build_market(domain)
    won = market.auction([market.targets[0]], caller_hash="h-dnc")
    domain.calls.post_call(PostCall(won.call_id))
    domain.calls.record_answer(RecordAnswer(won.call_id))
    domain.setup.block_caller(
        parse.block_caller(caller_hash="h-dnc", reason="asked not to be called", by="test")
    )
    billing = domain.calls.complete_call(CompleteCall(won.call_id, 300))
    assert billing.reason == "blocked"


def test_failover_voids_and_rehold(domain: Domain, clock: ManualClock) -> None:
    market = build_market(domain)
    first, second = market.buyers
    won = market.auction([market.targets[0], market.targets[1]])
    call_id = won.call_id
    assert _available(domain, first) == 100000 - 4500
    domain.calls.post_call(PostCall(call_id))
    answer = domain.calls.fail_over(
        FailOver(call_id, "no_answer", market.targets[1], new_id("hold"))
    )
    assert answer.destination == "+13105550100"
    assert answer.attempt == 2
    assert _available(domain, first) == 100000
    assert _available(domain, second) == 100000 - 4000
    last = domain.calls.fail_over(FailOver(call_id, "busy", None, None))
    assert last.destination is None
    assert _available(domain, second) == 100000
    call = domain.app.load(Call, call_id, "call_id")
    assert call.status == "not_billed"
    assert call.billing is not None
    assert call.billing.reason == "not_answered"
    ledger = ledger_from_log(domain.app)
    assert not ledger.pending
    assert sorted(ledger.closed_holds.values()) == ["voided", "voided"]


def test_failover_to_an_unranked_or_tried_target_is_refused(domain: Domain) -> None:
    market = build_market(domain)
    won = market.auction([market.targets[0]])
    domain.calls.post_call(PostCall(won.call_id))
    before = domain.app.store.head()
    with pytest.raises(Exception, match="ranked"):
        domain.calls.fail_over(FailOver(won.call_id, "busy", market.targets[1], new_id("hold")))
    assert domain.app.store.head() == before


def test_expired_bid_cannot_be_posted_and_its_hold_is_voided(
    domain: Domain, clock: ManualClock
) -> None:
    market = build_market(domain)
    won = market.auction([market.targets[0]], ttl_s=30)
    assert domain.calls.expire_ping(ExpirePing(won.call_id)) is False  # not due yet
    clock.advance(timedelta(seconds=30))
    with pytest.raises(Expired):
        domain.calls.post_call(PostCall(won.call_id))
    assert domain.calls.expire_ping(ExpirePing(won.call_id)) is True
    assert _available(domain, market.buyers[0]) == 100000
    with pytest.raises(Expired):
        domain.calls.post_call(PostCall(won.call_id))


def test_post_twice_conflicts_and_other_publisher_sees_nothing(domain: Domain) -> None:
    market = build_market(domain)
    won = market.auction([market.targets[0]])
    with pytest.raises(NotFound):
        domain.calls.post_call(PostCall(won.call_id, publisher_id="pub_" + "0" * 32))
    domain.calls.post_call(PostCall(won.call_id, publisher_id=market.publisher_id))
    with pytest.raises(Conflict):
        domain.calls.post_call(PostCall(won.call_id))


def test_insufficient_funds_records_nothing(domain: Domain) -> None:
    market = build_market(domain, deposit="40.00", credit_limit="0.00")
    before = domain.app.store.head()
    with pytest.raises(InsufficientFunds):
        market.auction([market.targets[0]])  # 45.00 against 40.00 available
    assert domain.app.store.head() == before
    domain.setup.change_credit_limit(
        parse.change_credit_limit(buyer_id=market.buyers[0], credit_limit="5.00", by="test")
    )
    market.auction([market.targets[0]])
    assert _available(domain, market.buyers[0]) == -500
    with pytest.raises(Conflict):  # cannot lower the limit under what is used
        domain.setup.change_credit_limit(
            parse.change_credit_limit(buyer_id=market.buyers[0], credit_limit="4.99", by="t")
        )


def test_dispute_accepted_reverses_with_new_entries(domain: Domain, clock: ManualClock) -> None:
    market = build_market(domain)
    buyer = market.buyers[0]
    call_id, _ = _connect(market, clock, duration_s=200)
    domain.calls.convert_call(
        parse.convert_call(call_id=call_id, by="buyer", value="250.00", buyer_id=buyer)
    )
    with pytest.raises(NotFound):  # another buyer cannot dispute it
        domain.calls.dispute_call(
            parse.dispute_call(
                call_id=call_id, reason="wrong number", by="x", buyer_id=market.buyers[1]
            )
        )
    dispute_id = domain.calls.dispute_call(
        parse.dispute_call(call_id=call_id, reason="wrong number", by="buyer", buyer_id=buyer)
    )
    result = domain.calls.resolve_dispute(
        parse.resolve_dispute(
            call_id=call_id, dispute_id=dispute_id, accept=True, note="ok", by="finance"
        )
    )
    assert result.reversal_transfer_id is not None
    assert _available(domain, buyer) == 100000
    ledger = ledger_from_log(domain.app)
    assert ledger.balance(f"publisher:{market.publisher_id}").posted_cents == 0
    assert ledger.balance("platform:revenue").posted_cents == 0
    assert ledger.total_net_cents() == 0
    with pytest.raises(Conflict):
        domain.calls.resolve_dispute(
            parse.resolve_dispute(
                call_id=call_id, dispute_id=dispute_id, accept=False, note="", by="f"
            )
        )
    names = event_names(domain.app)
    assert "Buyer.TransferReversed" in names
    assert names.count("Buyer.HoldPosted") == 1  # the original posting is never edited


def test_no_buyer_found_is_a_fact_too(domain: Domain) -> None:
    market = build_market(domain)
    result = market.auction([])
    assert result.accepted is False
    assert event_names(domain.app)[-2:] == ["Call.PingReceived", "Call.NoBuyerFound"]
