"""API key hygiene through HTTP (real Redis, NATS, SQLite; the sweep run by `POST
/v1/ops/sweep`, the clock a ManualClock): a key entering its warning window warns its owner
once — one `ApiKey.ExpiryWarned`, the `api_key.expiring` webhook to its buyer's real loopback
receiver, the portal's banner for admins and the owner's users; a key unused too long is
expired by "system" and answers 401."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.keys import key_id_of
from domain.api_key import ApiKey
from domain.catalog import topic_of
from domain.clock import ManualClock, format_rfc3339
from eventstore.deliveries import FILE_NAME, DeliveryStore
from ppcx.bootstrap import Domain
from ppcx.settings import Settings
from ppcx.web import create_app
from tests.api.conftest import ADMIN_KEY, BASE_URL, auth, build_market, project
from tests.portal.conftest import Browser, accept, invite_user
from tests.support.waiting import until
from tests.webhooks.test_delivery import Receiver, receivers, relay, start  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
UNUSED_DAYS = 30


@pytest.fixture
def key_settings(hook_settings: Settings) -> Settings:
    return hook_settings.model_copy(
        update={
            "bootstrap_admin_key": ADMIN_KEY,
            "public_base_url": BASE_URL,
            "key_expiry_warning_days": 7,
            "key_unused_expire_days": UNUSED_DAYS,
        }
    )


@pytest.fixture
def http(
    key_settings: Settings, now_clock: ManualClock, redis_client: object
) -> Iterator[TestClient]:
    # no background sweep: the test sweeps, so each step's outcome is the sweep's answer
    app = create_app(key_settings, clock=now_clock, background_sweep=False)
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DeliveryStore]:
    opened = DeliveryStore(tmp_path / FILE_NAME)
    try:
        yield opened
    finally:
        opened.close()


def sweep(http: TestClient) -> dict[str, Any]:
    swept = http.post("/v1/ops/sweep", headers=auth(ADMIN_KEY))
    assert swept.status_code == 200, swept.text
    body: dict[str, Any] = swept.json()
    return body


def issue(http: TestClient, buyer_id: str, **extra: Any) -> tuple[str, str]:
    made = http.post(
        "/v1/api-keys",
        json={"role": "buyer", "owner_id": buyer_id, **extra},
        headers=auth(ADMIN_KEY),
    )
    assert made.status_code == 201, made.text
    return made.json()["id"], made.json()["api_key"]


def warnings(domain: Domain) -> list[str]:
    """The key ids of every `ApiKey.ExpiryWarned` in the log."""
    rows = domain.app.store.read_topics(
        1, 100_000, stop=domain.app.store.head(), topics=[topic_of(ApiKey.ExpiryWarned)]
    )
    return [key_id for _, key_id, _, _, _ in rows]


def signed_in(http: TestClient, email: str, role: str, owner_id: str | None) -> Browser:
    browser = Browser(http)
    accept(browser, invite_user(http, email, role, owner_id))
    assert browser.sign_in(email).status_code == 303
    return browser


async def test_an_expiring_key_warns_its_owner_once(
    http: TestClient,
    domain: Domain,
    key_settings: Settings,
    now_clock: ManualClock,
    store: DeliveryStore,
    receivers: list[Receiver],  # noqa: F811
) -> None:
    market = build_market(http)
    buyer_id, buyer_key = next(iter(market.buyers.items()))
    other_buyer, other_key = list(market.buyers.items())[1]
    buyer_rx, other_rx = receivers[:2]
    for rx, key in ((buyer_rx, buyer_key), (other_rx, other_key)):
        made = http.post(
            "/v1/webhooks",
            json={"url": rx.url + "/hook", "events": ["api_key.expiring"]},
            headers=auth(key),
        )
        assert made.status_code == 201, made.text
    expires_at = now_clock.now() + timedelta(days=10)
    key_id, _ = issue(http, buyer_id, label="ci", expires_at=format_rfc3339(expires_at))

    assert sweep(http)["keys_warned"] == []  # 10 days ahead: not yet
    now_clock.advance(timedelta(days=3))  # 7 days ahead: in the window
    assert sweep(http)["keys_warned"] == [key_id]
    now_clock.advance(timedelta(hours=1))
    assert sweep(http)["keys_warned"] == []  # once
    assert warnings(domain) == [key_id]

    await relay(domain, key_settings)
    running = start(domain, key_settings, now_clock, store)
    try:
        await until(lambda: len(buyer_rx.delivered()) == 1, "the owner's api_key.expiring")
    finally:
        await running.halt()
    body = buyer_rx.delivered()[0].json()
    assert body["type"] == "api_key.expiring"
    assert body["data"] == {
        "key_id": key_id,
        "version": 3,  # issued, its expiry set, warned
        "expires_at": format_rfc3339(expires_at),
        "warning_days": 7,
    }
    assert other_rx.requests == []

    project(key_settings)
    admin = signed_in(http, "admin@example.com", "admin", None)
    page = admin.get("/admin/keys").text
    assert "API keys expiring soon" in page
    assert key_id in page
    owner = signed_in(http, "owner@example.com", "buyer", buyer_id)
    assert key_id in owner.get("/buyer/targets").text
    other = signed_in(http, "other@example.com", "buyer", other_buyer)
    assert "API keys expiring soon" not in other.get("/buyer/targets").text


async def test_an_unused_key_is_expired_then_refused(
    http: TestClient, domain: Domain, now_clock: ManualClock
) -> None:
    market = build_market(http)
    buyer_id, buyer_key = next(iter(market.buyers.items()))
    unused_id, unused_key = issue(http, buyer_id, label="forgotten")
    assert http.get(f"/v1/buyers/{buyer_id}", headers=auth(unused_key)).status_code == 200
    now_clock.advance(timedelta(days=UNUSED_DAYS - 1))
    assert sweep(http)["keys_expired"] == []
    # the market's buyer key is used the day before the others pass the limit
    assert http.get(f"/v1/buyers/{buyer_id}", headers=auth(buyer_key)).status_code == 200
    now_clock.advance(timedelta(days=1))
    expired = sweep(http)["keys_expired"]
    assert unused_id in expired
    assert key_id_of(buyer_key) not in expired
    refused = http.get(f"/v1/buyers/{buyer_id}", headers=auth(unused_key))
    assert refused.status_code == 401, refused.text
    assert http.get(f"/v1/buyers/{buyer_id}", headers=auth(buyer_key)).status_code == 200
    key = domain.app.find(ApiKey, unused_id)
    assert key is not None
    assert key.expires_at == now_clock.now()
    events = domain.app.store.read_topics(
        1, 100_000, stop=domain.app.store.head(), topics=[topic_of(ApiKey.ExpiredUnused)]
    )
    reasons = {key_id: state for _, key_id, _, _, state in events}
    assert b"unused for 30 days or more" in reasons[unused_id]
    assert b'"by":"system"' in reasons[unused_id]
