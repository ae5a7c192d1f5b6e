"""Rate limits through HTTP with real Redis: a publisher's flood is cut at its token bucket
(exactly burst + rate × elapsed by the injected clock) while another publisher goes on; the
429's headers; a limit changed by PATCH obeyed by the next ping; bad values refused whole;
the refusals reported to the publisher, at most once a second."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.clock import ManualClock
from domain.limits import DNI_BURST, DNI_RATE_PER_S, PING_BURST, PING_RATE_PER_S
from ppcx.settings import Settings
from ppcx.web import create_app
from tests.api.conftest import (
    ADMIN_KEY,
    BASE_URL,
    Market,
    auth,
    build_market,
    event_count,
    market_over_http,
)
from tests.api.test_dni_cors import _lease, _pool
from tools.market import BuyerSpec, MarketSpec
from tools.sim.rtb_server import Bidder, RtbServer

pytestmark = pytest.mark.e2e


def _limit(market: Market, publisher_id: str, **fields: int) -> dict[str, object]:
    answer: dict[str, object] = market.admin("PATCH", f"/v1/publishers/{publisher_id}", json=fields)
    return answer


def _statuses(market: Market, key: str, count: int) -> list[int]:
    return [market.ping(key).status_code for _ in range(count)]


def test_a_flood_is_cut_at_its_limit_and_another_publisher_goes_on(
    client: TestClient, clock: ManualClock
) -> None:
    market = build_market(client)
    (a_id, a_key), (_, b_key) = list(market.publishers.items())
    assert _limit(market, a_id, ping_rate_per_s=2, ping_burst=5)["ping_burst"] == 5

    assert _statuses(market, a_key, 8) == [200] * 5 + [429] * 3  # the burst
    clock.advance(timedelta(milliseconds=1_500))  # 2 a second × 1.5 s = 3 more
    assert _statuses(market, a_key, 5) == [200] * 3 + [429] * 2
    clock.advance(timedelta(milliseconds=499))  # 0.998 of a token: none yet
    assert _statuses(market, a_key, 1) == [429]
    clock.advance(timedelta(milliseconds=1))
    assert _statuses(market, a_key, 2) == [200, 429]
    assert _statuses(market, b_key, 20) == [200] * 20  # the default limit: untouched


def test_the_429_says_when_to_retry_and_the_policy(client: TestClient) -> None:
    market = build_market(client)
    publisher_id, key = market.publisher
    _limit(market, publisher_id, ping_rate_per_s=2, ping_burst=4)
    assert _statuses(market, key, 4) == [200] * 4
    refused = market.ping(key)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["type"] == "https://ppcx.dev/problems/rate-limited"
    assert body["reason"] == "rate_limited"
    assert refused.headers["Retry-After"] == "1"  # half a second, rounded up
    assert refused.headers["RateLimit-Policy"] == '"pings";q=4;w=2'
    assert refused.headers["RateLimit"] == '"pings";r=0;t=2'  # empty: full in 2 s
    # the RTB ping shares the bucket (refused before it looks for a tracking number)
    rtb = client.post(f"/v1/rtb/{market.campaign_id}.json", json={}, headers=auth(key))
    assert rtb.status_code == 429
    assert rtb.headers["RateLimit-Policy"] == '"pings";q=4;w=2'


def test_a_limit_changed_by_patch_is_obeyed_by_the_next_ping(client: TestClient) -> None:
    market = build_market(client)
    publisher_id, key = market.publisher
    assert _statuses(market, key, 3) == [200] * 3  # the defaults: generous
    shown = _limit(market, publisher_id, ping_burst=1)
    assert (shown["ping_rate_per_s"], shown["ping_burst"]) == (PING_RATE_PER_S.default, 1)
    assert _statuses(market, key, 2) == [200, 429]  # the bucket holds one token now
    got = client.get(f"/v1/publishers/{publisher_id}", headers=auth(ADMIN_KEY)).json()
    assert (got["ping_rate_per_s"], got["ping_burst"]) == (PING_RATE_PER_S.default, 1)


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"ping_rate_per_s": 0, "ping_burst": 5}, {"ping_rate_per_s"}),
        ({"ping_rate_per_s": 5, "ping_burst": 0}, {"ping_burst"}),
        ({"ping_rate_per_s": -1, "ping_burst": 2_000_000}, {"ping_rate_per_s", "ping_burst"}),
        ({"ping_rate_per_s": "fast"}, {"ping_rate_per_s"}),
        ({"ping_burst": 1.5, "name": ""}, {"ping_burst", "name"}),
    ],
)
def test_bad_limits_are_422_and_change_nothing(
    client: TestClient, api_settings: Settings, fields: dict[str, object], bad: set[str]
) -> None:
    market = build_market(client)
    publisher_id, _ = market.publisher
    before = event_count(api_settings)
    answer = client.patch(f"/v1/publishers/{publisher_id}", json=fields, headers=auth(ADMIN_KEY))
    assert answer.status_code == 422, answer.text
    assert {e["field"] for e in answer.json()["errors"]} == bad
    assert event_count(api_settings) == before
    got = client.get(f"/v1/publishers/{publisher_id}", headers=auth(ADMIN_KEY)).json()
    assert (got["ping_rate_per_s"], got["ping_burst"]) == (
        PING_RATE_PER_S.default,
        PING_BURST.default,
    )


def test_refused_pings_are_reported_to_their_publisher_once_a_second(
    client: TestClient, clock: ManualClock
) -> None:
    market = build_market(client)
    (a_id, a_key), (_, b_key) = list(market.publishers.items())
    _limit(market, a_id, ping_rate_per_s=1, ping_burst=1)
    assert _statuses(market, a_key, 5) == [200] + [429] * 4  # reported: the first refusal
    clock.advance(timedelta(milliseconds=999))  # 0.999 of a token
    assert _statuses(market, a_key, 3) == [429] * 3  # within the second: counted only
    clock.advance(timedelta(milliseconds=1))
    assert _statuses(market, a_key, 2) == [200, 429]  # a second on: the 7 since, reported

    seen = client.get("/v1/rate-limit-reports", headers=auth(a_key)).json()["items"]
    assert [r["refused"] for r in seen] == [7, 1]  # newest first
    assert {r["publisher_id"] for r in seen} == {a_id}
    assert all(r["reason"] == "rate_limited" and r["burst"] == 1 for r in seen)
    assert seen[1]["since_at"] is None
    assert seen[0]["since_at"] is not None
    # another publisher sees none of them; an admin sees them all
    assert client.get("/v1/rate-limit-reports", headers=auth(b_key)).json()["items"] == []
    everyone = client.get("/v1/rate-limit-reports", headers=auth(ADMIN_KEY)).json()["items"]
    assert len(everyone) == 2


def test_the_dni_endpoint_is_limited_per_client_address(
    client: TestClient, clock: ManualClock
) -> None:
    market = build_market(client)
    pool_id = _pool(market)
    statuses = [_lease(client, pool_id, "sess-0001").status_code for _ in range(DNI_BURST + 2)]
    assert statuses == [200] * DNI_BURST + [429] * 2
    refused = _lease(client, pool_id, "sess-0001")
    assert refused.json()["type"] == "https://ppcx.dev/problems/rate-limited"
    assert refused.headers["RateLimit-Policy"] == f'"dni";q={DNI_BURST};w=5'
    # another address has its own bucket (the test client's transport names the address)
    transport: Any = client._transport
    own_address, transport.client = transport.client, ("192.0.2.7", 50_000)
    assert _lease(client, pool_id, "sess-0002").status_code == 200
    transport.client = own_address
    clock.advance(timedelta(milliseconds=1_000 // DNI_RATE_PER_S))  # one token back
    assert [_lease(client, pool_id, "sess-0001").status_code for _ in range(2)] == [200, 429]


@pytest.fixture
def rtb_limited(
    api_settings: Settings, clock: ManualClock, redis_client: object
) -> Iterator[TestClient]:
    """The app with a buyer endpoint limited to 2 RTB requests at once, 1 a second."""
    limited = api_settings.model_copy(
        update={"rtb_endpoint_rate_per_s": 1, "rtb_endpoint_burst": 2}
    )
    with TestClient(
        create_app(limited, clock=clock), base_url=BASE_URL, raise_server_exceptions=False
    ) as client:
        yield client


def _rtb_market(client: TestClient, url: str) -> Market:
    return market_over_http(
        client,
        MarketSpec(
            publishers=[{"name": "RTB Leads"}],
            campaign={
                "name": "RTB only",
                "vertical": "legal",
                "publisher_payout": {"fixed": "10.00"},
                "rtb_deadline_ms": 5_000,
            },
            buyers=[
                BuyerSpec(
                    {"name": "RTB buyer", "time_zone": "UTC", "credit_limit": "1000.00"},
                    targets=[
                        {"destination": "+13105550300", "rtb_url": url, "rtb_timeout_ms": 5_000}
                    ],
                )
            ],
        ),
    )


def test_an_rtb_endpoint_over_its_limit_is_not_called(
    rtb_limited: TestClient, clock: ManualClock
) -> None:
    with RtbServer({"none": Bidder(bid=None)}) as server:
        market = _rtb_market(rtb_limited, server.url("none"))
        _, key = market.publisher
        answers = [market.ping(key, f"+1310555{n:04d}").json() for n in range(4)]
        assert len(server.requests) == 2  # the burst; the other two were never sent
        assert {a["reason"] for a in answers} == {"no_bid"}
        timeline = rtb_limited.get(
            f"/v1/calls/{answers[3]['ping_id']}", headers=auth(ADMIN_KEY)
        ).json()
        rejected = [e for e in timeline["events"] if e["type"] == "BidRejected"]
        assert [e["reason"] for e in rejected] == ["rate_limited"]
        clock.advance(timedelta(seconds=1))  # one request a second
        market.ping(key, "+13105559998")
        market.ping(key, "+13105559999")
        assert len(server.requests) == 3
