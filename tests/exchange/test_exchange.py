"""The exchange against real Redis, a real SQLite store and real loopback bidders."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import redis

from domain.billing import BillingDecision
from domain.buyer import Buyer
from domain.call import Call
from domain.call_state import BillingReason, FailoverReason
from domain.clock import ManualClock
from domain.errors import Conflict, Expired, NotFound
from eventstore.chain import chain_key
from handlers import parse
from ppcx.bootstrap import Domain, ExchangeRuntime
from ppcx.settings import Settings
from replay.rehydrate import rehydrate
from replay.verify import verify
from tests.support.exchange import buyer_with_target, caller, ping, publisher_and_campaign, sync
from tests.support.log import event_names, ledger_from_log
from tests.support.waiting import until
from tools.sim.rtb_server import Bidder, RtbServer

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

# RTB answers in time under the longest deadline a campaign or target allows (bidders on
# loopback answer in milliseconds); a late bidder never answers while the test runs, and its
# own timeout is long enough that its request reaches it first.
RTB_DEADLINE_MS = 5000
LATE_TIMEOUT_MS = 1000


def _held(client: redis.Redis, settings: Settings, buyer_id: str) -> int:
    value = client.hget(f"{settings.redis_prefix}:{{m:main}}:funds", f"{buyer_id}:held")
    return int(value or 0)


def _live(client: redis.Redis, settings: Settings, target_id: str) -> int:
    return int(client.zcard(f"{settings.redis_prefix}:{{m:main}}:live:{target_id}"))


async def test_ping_post_answer_complete_is_billed(
    runtime: ExchangeRuntime,
    domain: Domain,
    clock: ManualClock,
    redis_client: redis.Redis,
    settings: Settings,
) -> None:
    publisher, campaign = publisher_and_campaign(domain)
    buyer, target = buyer_with_target(domain, campaign, bid="45.00")
    _, other = buyer_with_target(domain, campaign, bid="40.00")
    sync(runtime)
    life = runtime.call_life
    result = await runtime.auctions.ping(ping(publisher, campaign))
    assert result.accepted
    assert (result.price_cents, result.payout_cents, result.bid_count) == (4500, 3000, 2)
    assert result.winner is not None
    assert result.winner.target_id == target
    assert _held(redis_client, settings, buyer) == 4500
    clock.advance(timedelta(seconds=3))
    route = await life.post(result.call_id, publisher)
    assert route.destination == "+13105550100"
    with pytest.raises(Conflict):
        await life.post(result.call_id, publisher)
    await life.answered(result.call_id, publisher)
    clock.advance(timedelta(seconds=95))
    billing = await life.completed(result.call_id, 95, publisher)
    assert billing.billable is True
    assert billing.revenue_cents == 4500
    assert _held(redis_client, settings, buyer) == 0
    assert _live(redis_client, settings, target) == 0
    sync(runtime)
    funds = redis_client.hget(f"{settings.redis_prefix}:{{m:main}}:funds", f"{buyer}:posted")
    assert int(funds or 0) == 1_000_000 - 4500
    assert domain.app.load(Buyer, buyer, "buyer_id").available_cents == 1_000_000 - 4500
    assert other


async def test_other_publisher_and_unknown_campaign_are_not_found(
    runtime: ExchangeRuntime,
    domain: Domain,
) -> None:
    publisher, campaign = publisher_and_campaign(domain)
    buyer_with_target(domain, campaign)
    other_publisher, _ = publisher_and_campaign(domain)
    sync(runtime)
    with pytest.raises(NotFound):
        await runtime.auctions.ping(ping(other_publisher, campaign))
    with pytest.raises(NotFound):
        await runtime.auctions.ping(ping(publisher, "cmp_" + "0" * 32))
    accepted = await runtime.auctions.ping(ping(publisher, campaign))
    with pytest.raises(NotFound):
        await runtime.call_life.post(accepted.call_id, other_publisher)


async def test_concurrency_cap_holds_under_200_concurrent_pings(
    runtime: ExchangeRuntime,
    domain: Domain,
    redis_client: redis.Redis,
    settings: Settings,
) -> None:
    publisher, campaign = publisher_and_campaign(domain)
    buyer, target = buyer_with_target(domain, campaign, caps={"concurrency": 5})
    sync(runtime)
    results = await asyncio.gather(
        *(runtime.auctions.ping(ping(publisher, campaign, caller(i))) for i in range(200))
    )
    accepted = [r for r in results if r.accepted]
    assert len(accepted) == 5
    assert _live(redis_client, settings, target) == 5
    assert _held(redis_client, settings, buyer) == 5 * 4500
    ledger = ledger_from_log(domain.app)
    assert len(ledger.pending) == 5
    assert {r.reason for r in results if not r.accepted} == {"no_eligible_buyer"}
    assert event_names(domain.app).count("Call.PingReceived") == 200


async def test_concurrent_wins_never_overdraw_a_buyer(
    runtime: ExchangeRuntime,
    domain: Domain,
    redis_client: redis.Redis,
    settings: Settings,
) -> None:
    publisher, campaign = publisher_and_campaign(domain)
    buyer, _ = buyer_with_target(domain, campaign, deposit="100.00", credit_limit="40.00")
    sync(runtime)  # 100.00 + 40.00 credit = room for three 45.00 holds
    results = await asyncio.gather(
        *(runtime.auctions.ping(ping(publisher, campaign, caller(i))) for i in range(60))
    )
    assert sum(r.accepted for r in results) == 3
    account = domain.app.load(Buyer, buyer, "buyer_id")
    assert account.available_cents == 10000 - 3 * 4500
    assert account.available_cents >= -account.credit_limit_cents
    assert _held(redis_client, settings, buyer) == 3 * 4500


async def test_store_refusal_releases_the_reservation(
    runtime: ExchangeRuntime,
    domain: Domain,
    redis_client: redis.Redis,
    settings: Settings,
) -> None:
    """Redis believes there are funds (stale); the buyer's account refuses the hold: the
    reservation is released and nothing is held anywhere."""
    publisher, campaign = publisher_and_campaign(domain)
    buyer, target = buyer_with_target(domain, campaign, deposit="50.00")
    sync(runtime)
    redis_client.hset(f"{settings.redis_prefix}:{{m:main}}:funds", f"{buyer}:posted", 10**9)
    first = await runtime.auctions.ping(ping(publisher, campaign, caller(1)))
    assert first.accepted  # 50.00 covers one 45.00 hold
    second = await runtime.auctions.ping(ping(publisher, campaign, caller(2)))
    assert not second.accepted
    assert _live(redis_client, settings, target) == 1
    assert _held(redis_client, settings, buyer) == 4500
    call = domain.app.load(Call, second.call_id, "call_id")
    assert call.status == "no_buyer"


async def test_caps_reset_at_the_buyers_local_midnight_and_hour(
    runtime: ExchangeRuntime,
    domain: Domain,
    clock: ManualClock,
) -> None:
    publisher, campaign = publisher_and_campaign(domain)
    buyer_with_target(
        domain, campaign, time_zone="America/Los_Angeles", caps={"daily": 2, "hourly": 1}
    )
    sync(runtime)
    clock.set(datetime(2026, 3, 3, 7, 30, tzinfo=UTC))  # 23:30 PST on 2 March (UTC-8)
    assert (await runtime.auctions.ping(ping(publisher, campaign, caller(1)))).accepted
    assert not (
        await runtime.auctions.ping(ping(publisher, campaign, caller(2)))
    ).accepted  # hourly cap
    clock.advance(timedelta(minutes=29))  # 23:59 PST
    assert not (await runtime.auctions.ping(ping(publisher, campaign, caller(3)))).accepted
    clock.advance(timedelta(minutes=1))  # 00:00 PST: a new hour and a new local day
    assert (await runtime.auctions.ping(ping(publisher, campaign, caller(4)))).accepted
    clock.advance(timedelta(hours=1))
    assert (await runtime.auctions.ping(ping(publisher, campaign, caller(5)))).accepted
    clock.advance(timedelta(hours=1))
    assert not (
        await runtime.auctions.ping(ping(publisher, campaign, caller(6)))
    ).accepted  # daily cap 2


async def test_expired_reservation_frees_its_capacity(
    runtime: ExchangeRuntime,
    domain: Domain,
    clock: ManualClock,
    redis_client: redis.Redis,
    settings: Settings,
) -> None:
    publisher, campaign = publisher_and_campaign(domain, bid_ttl_s=30)
    buyer, target = buyer_with_target(domain, campaign, caps={"concurrency": 1})
    sync(runtime)
    life = runtime.call_life
    first = await runtime.auctions.ping(ping(publisher, campaign, caller(1)))
    assert first.accepted
    assert not (await runtime.auctions.ping(ping(publisher, campaign, caller(2)))).accepted
    clock.advance(timedelta(seconds=31))
    with pytest.raises(Expired):
        await life.post(first.call_id, publisher)
    assert await runtime.sweeper.sweep() == 1
    assert _live(redis_client, settings, target) == 0
    assert _held(redis_client, settings, buyer) == 0
    assert domain.app.load(Call, first.call_id, "call_id").status == "expired"
    assert domain.app.load(Buyer, buyer, "buyer_id").available_cents == 1_000_000
    assert (await runtime.auctions.ping(ping(publisher, campaign, caller(3)))).accepted


async def test_expired_capacity_is_free_even_before_the_sweeper_runs(
    runtime: ExchangeRuntime,
    domain: Domain,
    clock: ManualClock,
) -> None:
    publisher, campaign = publisher_and_campaign(domain, bid_ttl_s=30)
    buyer_with_target(domain, campaign, caps={"concurrency": 1})
    sync(runtime)
    assert (await runtime.auctions.ping(ping(publisher, campaign, caller(1)))).accepted
    clock.advance(timedelta(seconds=31))
    assert (await runtime.auctions.ping(ping(publisher, campaign, caller(2)))).accepted


async def test_duplicate_caller_inside_the_window_is_not_billed(
    runtime: ExchangeRuntime,
    domain: Domain,
    clock: ManualClock,
) -> None:
    publisher, campaign = publisher_and_campaign(domain, duplicate_window_days=30)
    buyer, _ = buyer_with_target(domain, campaign, bid="50.00")
    sync(runtime)
    life = runtime.call_life
    # two calls from the same caller are live at once (the second pinged before either ends)
    first = await runtime.auctions.ping(ping(publisher, campaign, caller(7)))
    await life.post(first.call_id, publisher)
    second = await runtime.auctions.ping(ping(publisher, campaign, caller(7)))
    assert second.accepted
    assert second.call_id != first.call_id  # the first bid was consumed by its post
    await life.post(second.call_id, publisher)
    for call_id in (first.call_id, second.call_id):
        await life.answered(call_id, publisher)
    clock.advance(timedelta(seconds=200))
    assert (await life.completed(first.call_id, 200, publisher)).billable
    duplicate = await life.completed(second.call_id, 200, publisher)
    assert duplicate == BillingDecision(False, BillingReason.DUPLICATE, 0, 0, 0)
    sync(runtime)  # the duplicate index reaches Redis: the buyer no longer bids on this caller
    third = await runtime.auctions.ping(ping(publisher, campaign, caller(7)))
    assert (third.accepted, third.reason) == (False, "duplicate")
    clock.advance(timedelta(days=30))
    assert (await runtime.auctions.ping(ping(publisher, campaign, caller(7)))).accepted
    assert buyer


async def test_second_ping_for_the_same_caller_returns_the_earlier_bid(
    runtime: ExchangeRuntime,
    domain: Domain,
    clock: ManualClock,
) -> None:
    publisher, campaign = publisher_and_campaign(domain, bid_ttl_s=60)
    buyer_with_target(domain, campaign)
    sync(runtime)
    first = await runtime.auctions.ping(ping(publisher, campaign, caller(9)))
    clock.advance(timedelta(seconds=20))
    again = await runtime.auctions.ping(ping(publisher, campaign, caller(9)))
    assert again.repeated
    assert (again.call_id, again.price_cents, again.expires_at) == (
        first.call_id,
        first.price_cents,
        first.expires_at,
    )
    clock.advance(timedelta(seconds=41))
    fresh = await runtime.auctions.ping(ping(publisher, campaign, caller(9)))
    assert not fresh.repeated
    assert fresh.call_id != first.call_id


async def test_blocked_caller_gets_no_auction(
    runtime: ExchangeRuntime,
    domain: Domain,
) -> None:
    publisher, campaign = publisher_and_campaign(domain)
    buyer_with_target(domain, campaign)
    number = caller(66)
    domain.setup.block_caller(
        parse.block_caller(caller_hash=runtime.hasher(number), reason="DNC", by="test")
    )
    sync(runtime)
    result = await runtime.auctions.ping(ping(publisher, campaign, number))
    assert (result.accepted, result.reason) == (False, "blocked")
    assert event_names(domain.app)[-1] == "Call.NoBuyerFound"


async def test_failover_to_the_next_bidder_then_to_nobody(
    runtime: ExchangeRuntime,
    domain: Domain,
    redis_client: redis.Redis,
    settings: Settings,
) -> None:
    publisher, campaign = publisher_and_campaign(domain, max_attempts=3)
    first_buyer, first = buyer_with_target(
        domain, campaign, bid="50.00", destination="+13105550101"
    )
    second_buyer, second = buyer_with_target(
        domain, campaign, bid="45.00", destination="+13105550102"
    )
    sync(runtime)
    life = runtime.call_life
    won = await runtime.auctions.ping(ping(publisher, campaign))
    await life.post(won.call_id, publisher)
    answer = await life.failed_over(won.call_id, FailoverReason.NO_ANSWER, publisher)
    assert answer.destination == "+13105550102"
    assert _held(redis_client, settings, first_buyer) == 0
    assert _held(redis_client, settings, second_buyer) == 4500
    assert _live(redis_client, settings, second) == 1
    last = await life.failed_over(won.call_id, FailoverReason.BUSY, publisher)
    assert last.destination is None
    assert _held(redis_client, settings, second_buyer) == 0
    assert _live(redis_client, settings, first) == 0
    call = domain.app.load(Call, won.call_id, "call_id")
    assert (call.status, call.billing and call.billing.reason) == ("not_billed", "not_answered")
    assert not ledger_from_log(domain.app).pending


async def test_rtb_bidders_fast_late_erroring_malformed(
    runtime: ExchangeRuntime,
    domain: Domain,
) -> None:
    """Each answer's outcome is decided by the bidder, not by the machine's speed: the ones
    that answer do so at once under the longest deadlines allowed; the late one answers only
    when the server stops, long after its own timeout."""
    with RtbServer(
        {
            "fast": Bidder(bid="61.00"),
            "late": Bidder(bid="99.00", late=True),
            "error": Bidder(status=500),
            "malformed": Bidder(body=b"{not json"),
            "below": Bidder(bid="10.00"),
            "none": Bidder(bid=None),
        }
    ) as server:
        publisher, campaign = publisher_and_campaign(domain, rtb_deadline_ms=RTB_DEADLINE_MS)
        for name in ("fast", "late", "error", "malformed", "below", "none"):
            timeout_ms = LATE_TIMEOUT_MS if name == "late" else RTB_DEADLINE_MS
            buyer_with_target(domain, campaign, rtb_url=server.url(name), rtb_timeout_ms=timeout_ms)
        sync(runtime)
        number = "+13105550999"
        result = await runtime.auctions.ping(ping(publisher, campaign, number))
        assert result.accepted
        assert result.price_cents == 6100
        assert result.bid_count == 1
        names = event_names(domain.app)
        assert names.count("Call.BidReceived") == 1
        assert names.count("Call.BidTimedOut") == 1
        assert names.count("Call.BidRejected") == 4
        call = domain.app.load(Call, result.call_id, "call_id")
        assert call.bids_rejected == 4
        assert call.bids_timed_out == 1
        # the late bidder holds its request, received inside its timeout
        await until(lambda: len(server.requests) == 6, "every bidder received the ping")
        assert sorted(name for name, _ in server.requests) == sorted(
            ("fast", "late", "error", "malformed", "below", "none")
        )
        for _, body in server.requests:
            assert number not in str(body)
            assert "5550999" not in str(body)
            assert body["caller"]["hash"] == runtime.hasher(number)
            assert body["caller"]["state"] == "CA"


async def test_rtb_reasons_are_recorded(runtime: ExchangeRuntime, domain: Domain) -> None:
    with RtbServer({"error": Bidder(status=503), "bad": Bidder(body=b'{"bid": 12.5}')}) as s:
        publisher, campaign = publisher_and_campaign(domain, rtb_deadline_ms=RTB_DEADLINE_MS)
        for name in ("error", "bad"):
            buyer_with_target(domain, campaign, rtb_url=s.url(name), rtb_timeout_ms=RTB_DEADLINE_MS)
        sync(runtime)
        result = await runtime.auctions.ping(ping(publisher, campaign))
        # every bidder was asked and none bid: the reason says so
        assert (result.accepted, result.reason) == (False, "no_bid")
    reasons = set()
    import orjson

    from tests.support.log import notifications

    for n in notifications(domain.app):
        if n.topic.endswith("BidRejected"):
            reasons.add(orjson.loads(n.state)["reason"])
    assert reasons == {"http_503", "malformed:bid"}  # a float bid is malformed


async def test_funds_and_limits_reach_redis_from_the_log(
    runtime: ExchangeRuntime,
    domain: Domain,
) -> None:
    publisher, campaign = publisher_and_campaign(domain)
    buyer, _ = buyer_with_target(domain, campaign, deposit="10.00")
    sync(runtime)
    assert not (await runtime.auctions.ping(ping(publisher, campaign, caller(1)))).accepted
    domain.setup.deposit(
        parse.deposit_funds(buyer_id=buyer, amount="20.00", reference="wire", by="test")
    )
    domain.setup.change_credit_limit(
        parse.change_credit_limit(buyer_id=buyer, credit_limit="15.00", by="test")
    )
    sync(runtime)
    assert (await runtime.auctions.ping(ping(publisher, campaign, caller(2)))).accepted


async def test_a_disallowed_publisher_is_refused_at_once_and_after_redis_is_rebuilt(
    runtime: ExchangeRuntime,
    domain: Domain,
    settings: Settings,
    redis_client: redis.Redis,
) -> None:
    publisher, campaign = publisher_and_campaign(domain)
    other = domain.setup.register_publisher(parse.register_publisher(name="Other", by="test"))
    domain.setup.allow_publisher(
        parse.allow_publisher(campaign_id=campaign, publisher_id=other, by="test")
    )
    buyer_with_target(domain, campaign)
    sync(runtime)
    assert (await runtime.auctions.ping(ping(publisher, campaign, caller=caller(1)))).accepted
    domain.setup.disallow_publisher(
        parse.disallow_publisher(campaign_id=campaign, publisher_id=publisher, by="test")
    )
    sync(runtime)  # what every worker's follower does within its tick
    with pytest.raises(NotFound):
        await runtime.auctions.ping(ping(publisher, campaign, caller=caller(2)))
    assert (await runtime.auctions.ping(ping(other, campaign, caller=caller(3)))).accepted

    for key in redis_client.scan_iter(match=f"{settings.redis_prefix}*"):
        redis_client.delete(key)
    rehydrate(domain.app, redis_client, settings.redis_prefix, domain.clock.now())
    runtime.hot.forget_snapshots()
    with pytest.raises(NotFound):
        await runtime.auctions.ping(ping(publisher, campaign, caller=caller(4)))
    assert (await runtime.auctions.ping(ping(other, campaign, caller=caller(5)))).accepted
    assert settings.audit_key is not None
    report = verify(domain.app.store.read_chained, chain_key(settings.audit_key), parallel=False)
    assert report.ok, report.failures
