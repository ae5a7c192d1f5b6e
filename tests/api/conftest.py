"""The real API (`ppcx.web.create_app`) over real Redis, NATS and a SQLite store, driven
through Starlette's TestClient (an in-process ASGI client: the app itself is not mocked)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

import tools.market
from domain.clock import ManualClock
from ppcx.bootstrap import build_application
from ppcx.settings import Settings
from ppcx.web import create_app
from projections.projector import Projector
from projections.store import ProjectionStore
from tools.market import BuyerSpec, MarketSpec, OverHttp

ADMIN_KEY = "bootstrap-admin-key-for-tests-only"
TWILIO_TOKEN = "12345"
BASE_URL = "https://ppcx.test"


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "bootstrap_admin_key": ADMIN_KEY,
            "twilio_auth_token": TWILIO_TOKEN,
            "public_base_url": BASE_URL,
        }
    )


@pytest.fixture
def client(
    api_settings: Settings, clock: ManualClock, redis_client: object
) -> Iterator[TestClient]:
    with TestClient(
        create_app(api_settings, clock=clock), base_url=BASE_URL, raise_server_exceptions=False
    ) as test_client:
        yield test_client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def project(settings: Settings) -> None:
    """Run the projector over the whole log and publish the snapshot the API reads."""
    app = build_application(settings)
    try:
        store = ProjectionStore(settings.resolved_duckdb_path)
        Projector(store).run_from_log(app.store.read_chained)
        store.publish_snapshot(force=True)
        store.close()
    finally:
        app.close()


def event_count(settings: Settings) -> int:
    app = build_application(settings)
    try:
        return app.store.head()
    finally:
        app.close()


@dataclass
class Market:
    """A market set up through the admin API: one campaign, two publishers, two buyers."""

    client: TestClient
    campaign_id: str = ""
    publishers: dict[str, str] = field(default_factory=dict)  # id -> key
    buyers: dict[str, str] = field(default_factory=dict)  # id -> key
    targets: dict[str, str] = field(default_factory=dict)  # id -> buyer id
    finance_key: str = ""
    analyst_key: str = ""

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, path, headers=auth(ADMIN_KEY), **kwargs)
        assert response.status_code < 300, (path, response.status_code, response.text)
        return response.json() if response.content else None

    @property
    def publisher(self) -> tuple[str, str]:
        return next(iter(self.publishers.items()))

    def tracking_number(self, number: str, source: str) -> Any:
        """A static tracking number of the campaign for the first publisher (`POST
        /v1/numbers`): a Twilio call to it is auctioned in the campaign."""
        return self.admin(
            "POST",
            "/v1/numbers",
            json={
                "number": number,
                "campaign_id": self.campaign_id,
                "publisher_id": self.publisher[0],
                "source": source,
            },
        )

    def ping(self, key: str, number: str = "+13105550123", **extra: Any) -> Any:
        body = {
            "campaign_id": self.campaign_id,
            "caller": {"number": number, "state": "CA", "zip": "90210"},
            "attribution": {"source": "google", "keyword": "car accident lawyer"},
            **extra,
        }
        return self.client.post("/v1/pings", json=body, headers=auth(key))


def market_over_http(client: TestClient, spec: MarketSpec) -> Market:
    """The market of `spec`, set up through the admin API, with a finance and an analyst key."""
    built = tools.market.build_market(OverHttp(client, ADMIN_KEY), spec)
    market = Market(
        client,
        built.campaign_id,
        publishers={p.id: str(p.api_key) for p in built.publishers},
        buyers={b.id: str(b.api_key) for b in built.buyers},
        targets=dict(built.targets),
    )
    market.finance_key = market.admin("POST", "/v1/api-keys", json={"role": "finance"})["api_key"]
    market.analyst_key = market.admin("POST", "/v1/api-keys", json={"role": "analyst"})["api_key"]
    return market


def build_market(
    client: TestClient,
    bids: tuple[str, ...] = ("50.00", "45.00"),
    payout: str = "30.00",
    **target_extra: Any,
) -> Market:
    """Two publishers on one campaign; a funded buyer per bid, each with a standing bid."""
    spec = MarketSpec(
        publishers=[{"name": "Acme Leads"}, {"name": "Beta Media"}],
        campaign={
            "name": "LA car accidents",
            "vertical": "legal",
            "publisher_payout": {"fixed": payout},
            "duplicate_window_days": 30,
        },
        buyers=[
            BuyerSpec(
                {"name": f"Buyer {n}", "time_zone": "America/Los_Angeles", "credit_limit": "0.00"},
                deposit={"amount": "1000.00", "reference": "wire"},
                targets=[
                    {"destination": f"+1310555020{n}", "bid": bid, "buffer_s": 60, **target_extra}
                ],
            )
            for n, bid in enumerate(bids)
        ],
    )
    return market_over_http(client, spec)


@pytest.fixture
def live_server(api_settings: Settings, redis_client: object) -> Iterator[str]:
    """The app under a real uvicorn server on a loopback port (in a thread of this process);
    stops by itself at the end of the test."""
    import threading
    import time

    import uvicorn

    from ppcx.services import free_loopback_port

    port = free_loopback_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(api_settings),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the server failed to start"
        assert time.monotonic() < deadline, "the server did not start within 30 s"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
