"""The ping path's screens against real Redis, through the exchange itself: a ping counted
for velocity but never recorded (its auction failed) is taken back, so Redis counts only what
the log holds; a ping the exchange classifies itself (no classification given) is screened
the same."""

from __future__ import annotations

import pytest
import redis

from exchange.auctions import AuctionService
from ppcx.bootstrap import Domain, ExchangeRuntime
from ppcx.settings import Settings
from tests.support.exchange import buyer_with_target, ping, publisher_and_campaign, sync

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def test_a_ping_whose_auction_fails_is_not_counted(
    domain: Domain,
    runtime: ExchangeRuntime,
    settings: Settings,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    publisher, campaign = publisher_and_campaign(domain)
    buyer_with_target(domain, campaign)
    sync(runtime)
    caller = "+13105550190"
    key = runtime.auctions.hot.keys.velocity(runtime.auctions.hasher(caller))

    async def broken(*_: object) -> None:
        raise RuntimeError("the store is down")

    with monkeypatch.context() as patched:
        patched.setattr(AuctionService, "_auction", broken)
        with pytest.raises(RuntimeError):
            await runtime.auctions.ping(ping(publisher, campaign, caller=caller))
    assert redis_client.zcard(key) == 0  # counted, then taken back: the log has no such ping
    result = await runtime.auctions.ping(ping(publisher, campaign, caller=caller))
    assert result.accepted
    assert redis_client.zcard(key) == 1


async def test_the_exchange_classifies_a_number_given_without_its_line(
    domain: Domain, runtime: ExchangeRuntime
) -> None:
    publisher, campaign = publisher_and_campaign(domain)
    buyer_with_target(domain, campaign)
    sync(runtime)
    result = await runtime.auctions.ping(ping(publisher, campaign, caller="+13101000000"))
    assert (result.accepted, result.reason, result.screen) == (
        False,
        "screened",
        "unassignable_number",
    )
    anonymous = await runtime.auctions.ping(ping(publisher, campaign, caller=None))
    assert anonymous.accepted  # no number: not screened, as before
