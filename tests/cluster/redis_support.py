"""What the Redis Cluster tests share: a loopback cluster per test (`tools.cluster`), settings
that speak the cluster protocol to it, the API over it, and markets on chosen masters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from domain.clock import ManualClock
from exchange.keys import Keys
from exchange.redis_clients import sync_client
from ppcx.services import Endpoints
from ppcx.settings import Settings
from ppcx.web import create_app
from tests.api.conftest import ADMIN_KEY, BASE_URL, TWILIO_TOKEN, Market, market_over_http
from tools.cluster.redis_cluster import RedisClusterRig
from tools.market import BuyerSpec, MarketSpec

MARKET_NAMES = tuple(f"mkt{n}" for n in range(64))


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[RedisClusterRig]:
    """Three masters and three replicas on loopback, killed at the end of the test."""
    with RedisClusterRig(tmp_path / "redis-cluster") as rig:
        yield rig


@pytest.fixture
def cluster_settings(
    local_settings: Settings, endpoints: Endpoints, redis_cluster: RedisClusterRig
) -> Settings:
    """This test's settings on the Redis Cluster (PPCX_REDIS_CLUSTER) and the real NATS."""
    return local_settings.model_copy(
        update={
            "redis_url": redis_cluster.url,
            "redis_cluster": True,
            "nats_url": endpoints.nats_url,
            "bootstrap_admin_key": ADMIN_KEY,
            "twilio_auth_token": TWILIO_TOKEN,
            "public_base_url": BASE_URL,
        }
    )


@pytest.fixture
def cluster_client(cluster_settings: Settings) -> Iterator[redis.Redis]:
    """A blocking cluster client, as the runtime builds one."""
    assert cluster_settings.redis_url is not None
    client = sync_client(cluster_settings.redis_url, cluster=True)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def cluster_api(cluster_settings: Settings, clock: ManualClock) -> Iterator[TestClient]:
    with TestClient(
        create_app(cluster_settings, clock=clock), base_url=BASE_URL, raise_server_exceptions=False
    ) as test_client:
        yield test_client


def markets_on_different_masters(rig: RedisClusterRig, prefix: str) -> tuple[str, str]:
    """Two market names whose keys live on two different masters."""
    keys = Keys(prefix)
    first = MARKET_NAMES[0]
    home = rig.master_for(keys.config(first)).port
    for name in MARKET_NAMES[1:]:
        if rig.master_for(keys.config(name)).port != home:
            return first, name
    raise AssertionError("no two of the market names hash to different masters")


def build_cluster_market(
    client: TestClient,
    market: str,
    deposits: tuple[str, str] = ("1000.00", "1000.00"),
    **target_extra: Any,
) -> Market:
    """A campaign of `market` with two publishers and two funded buyers of that market (no
    credit: a buyer's funds are its deposit), bidding 50.00 and 45.00."""
    spec = MarketSpec(
        publishers=[{"name": f"Acme {market}"}, {"name": f"Beta {market}"}],
        campaign={
            "name": f"Car accidents {market}",
            "vertical": "legal",
            "publisher_payout": {"fixed": "30.00"},
            "duplicate_window_days": 30,
            "market": market,
        },
        buyers=[
            BuyerSpec(
                {
                    "name": f"Buyer {n} {market}",
                    "time_zone": "America/Los_Angeles",
                    "credit_limit": "0.00",
                    "market": market,
                },
                deposit={"amount": deposit, "reference": "wire"},
                targets=[
                    {"destination": f"+1310555020{n}", "bid": bid, "buffer_s": 60, **target_extra}
                ],
            )
            for n, (bid, deposit) in enumerate(zip(("50.00", "45.00"), deposits, strict=True))
        ],
    )
    return market_over_http(client, spec)
