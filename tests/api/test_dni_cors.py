"""DNI from a landing page on another domain: a pool's allowed origins (CORS on the lease,
the preflight, the script), and pools stored before origins existed, through HTTP against the
real app."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from domain.numbers import NumberPool, number_id
from ppcx.bootstrap import build_application
from ppcx.settings import Settings
from tests.api.conftest import ADMIN_KEY, Market, auth, build_market

pytestmark = pytest.mark.e2e

LANDING = "https://landing.example.com"
ELSEWHERE = "https://evil.example.net"


def _pool(market: Market, **extra: Any) -> str:
    publisher_id, _ = market.publisher
    pool_id: str = market.admin(
        "POST",
        "/v1/number-pools",
        json={
            "name": "site",
            "campaign_id": market.campaign_id,
            "publisher_id": publisher_id,
            "numbers": ["+18005550201", "+18005550202"],
            "lease_ttl_s": 600,
            **extra,
        },
    )["id"]
    return pool_id


def _lease(client: TestClient, pool_id: str, session: str, origin: str | None = None) -> Any:
    headers = {"Origin": origin} if origin else {}
    return client.get(
        "/v1/dni/number", params={"pool": pool_id, "session": session}, headers=headers
    )


def test_a_pools_allowed_origin_may_lease_from_the_browser_and_no_other(
    client: TestClient,
) -> None:
    market = build_market(client)
    # origins are validated: scheme + host [+ port], nothing else
    for bad in ("https://landing.example.com/page", "landing.example.com", "ftp://x.example"):
        refused = client.post(
            "/v1/number-pools",
            json={
                "name": "bad",
                "campaign_id": market.campaign_id,
                "publisher_id": market.publisher[0],
                "numbers": ["+18005550299"],
                "allowed_origins": [bad],
            },
            headers=auth(ADMIN_KEY),
        )
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["errors"][0]["field"] == "allowed_origins"
    # a default port and upper case are the same origin as the browser's header
    pool_id = _pool(market, allowed_origins=["HTTPS://Landing.Example.com:443"])

    allowed = _lease(client, pool_id, "session-one", LANDING)
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == LANDING
    assert "Origin" in allowed.headers["vary"]
    assert allowed.json()["number"] in ("+18005550201", "+18005550202")

    other = _lease(client, pool_id, "session-two", ELSEWHERE)
    assert other.status_code == 403
    assert "access-control-allow-origin" not in other.headers
    # the refused page took no number: the pool's other number is still free
    third = _lease(client, pool_id, "session-three")
    assert third.status_code == 200
    assert third.json()["reused"] is False
    assert "access-control-allow-origin" not in third.headers  # no Origin: not a CORS call

    # another pool does not inherit the origin
    other_pool = _pool(market, numbers=["+18005550203"])
    refused = _lease(client, other_pool, "session-one", LANDING)
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers


def test_the_preflight_is_answered_for_an_allowed_origin_only(client: TestClient) -> None:
    market = build_market(client)
    pool_id = _pool(market, allowed_origins=[LANDING, "http://localhost:8080"])

    def preflight(origin: str, pool: str = pool_id, method: str = "GET") -> Any:
        return client.options(
            "/v1/dni/number",
            params={"pool": pool, "session": "session-one"},
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "content-type",
            },
        )

    answer = preflight(LANDING)
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == LANDING
    assert answer.headers["access-control-allow-methods"] == "GET"
    assert "content-type" in answer.headers["access-control-allow-headers"].lower()
    assert int(answer.headers["access-control-max-age"]) > 0
    assert "Origin" in answer.headers["vary"]
    assert preflight("http://localhost:8080").headers["access-control-allow-origin"] == (
        "http://localhost:8080"
    )
    for refused in (
        preflight(ELSEWHERE),
        preflight(LANDING, method="DELETE"),
        preflight(LANDING, pool="pool_" + "0" * 32),
    ):
        assert refused.status_code == 204
        assert not [h for h in refused.headers if h.lower().startswith("access-control-")]


def test_the_script_loads_on_a_page_of_any_domain(client: TestClient) -> None:
    script = client.get("/dni.js", headers={"Origin": LANDING})
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["cross-origin-resource-policy"] == "cross-origin"
    assert script.headers["access-control-allow-origin"] == "*"  # <script crossorigin> too
    assert "/v1/dni/number" in script.text


def test_a_pool_stored_before_origins_existed_still_loads(
    client: TestClient, api_settings: Settings
) -> None:
    """Its `Created` event, as the log holds it, decodes to a pool that allows no origin."""
    market = build_market(client)
    publisher_id, _ = market.publisher
    pool_id = "pool_" + "a" * 32
    number = "+18005550211"
    old_state = {  # NumberPool.Created exactly as pools were stored before this change
        "timestamp": "2026-03-01T12:00:00+00:00",
        "originator_topic": "domain.numbers:NumberPool",
        "name": "old site",
        "campaign_id": market.campaign_id,
        "publisher_id": publisher_id,
        "numbers": [number],
        "lease_ttl_s": 600,
        "by": "key:old",
    }
    old_tracker = {  # TrackingNumber.Provisioned of the pool's number, likewise
        "timestamp": old_state["timestamp"],
        "originator_topic": "domain.numbers:TrackingNumber",
        "number": number,
        "campaign_id": market.campaign_id,
        "publisher_id": publisher_id,
        "source": "dni",
        "medium": None,
        "keyword": None,
        "pool_id": pool_id,
        "by": "key:old",
    }
    app = build_application(api_settings)
    try:
        app.store.append(
            [
                (pool_id, 1, "domain.numbers:NumberPool.Created", orjson.dumps(old_state)),
                (
                    number_id(number),
                    1,
                    "domain.numbers:TrackingNumber.Provisioned",
                    orjson.dumps(old_tracker),
                ),
            ]
        )
        pool = app.find(NumberPool, pool_id)
        assert pool is not None
        assert pool.numbers == [number]
        assert pool.allowed_origins == []
    finally:
        app.close()
    served = _lease(client, pool_id, "session-old")
    assert served.status_code == 200, served.text
    assert served.json()["number"] == number
    assert _lease(client, pool_id, "session-old", LANDING).status_code == 403
