"""Every Lua script PPCX registers runs on a Redis Cluster through the code that uses it —
the exchange's reservation scripts, the log follower's, DNI leases, sign-in counters, the
rebuild's lock — with two markets whose keys live on two different masters: no script names
keys of two hash slots (CROSSSLOT), no command spans slots, and a rebuild from the log (SCAN
and deletes on every master) gives back exactly the state the traffic left."""

from __future__ import annotations

import ast
import asyncio
import hashlib
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from domain.clock import ManualClock
from exchange.keys import Keys
from exchange.redis_clients import async_client
from portal.limiter import LoginLimiter
from ppcx.bootstrap import build_application
from ppcx.settings import Settings
from ppcx.web import create_app
from replay import recovery
from tests.api.conftest import ADMIN_KEY, BASE_URL, auth
from tests.api.test_redis_loss import _state
from tests.cluster.redis_support import (
    build_cluster_market,
    cluster_client,
    cluster_settings,
    markets_on_different_masters,
    redis_cluster,
)
from tools.cluster.redis_cluster import RedisClusterRig

pytestmark = [pytest.mark.integration, pytest.mark.cluster]
__all__ = ["cluster_client", "cluster_settings", "redis_cluster"]  # the fixtures used
ROOT = Path(__file__).resolve().parents[2]
SCRIPT_PACKAGES = ("exchange", "replay", "portal", "api", "ppcx", "projections", "webhooks")


def every_script() -> dict[str, str]:
    """Name → body of every Lua script in the runtime: the files of exchange/redis_scripts
    and every module-level string constant that calls Redis (the inline ones)."""
    scripts = {
        f"exchange/redis_scripts/{f.name}": f.read_text()
        for f in resources.files("exchange").joinpath("redis_scripts").iterdir()
        if f.name.endswith(".lua")
    }
    for package in SCRIPT_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.parse(path.read_text()).body:
                if (
                    isinstance(node, ast.Assign)
                    and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, str)
                    and "redis.call(" in node.value.value
                ):
                    name = ast.unparse(node.targets[0])
                    scripts[f"{path.relative_to(ROOT)}:{name}"] = node.value.value
    return scripts


def _ran_somewhere(rig: RedisClusterRig, body: str) -> bool:
    sha = hashlib.sha1(body.encode()).hexdigest()  # Redis names scripts so
    return any(bool(m.ask("SCRIPT", "EXISTS", sha)[0]) for m in rig.live_masters())  # type: ignore[index]


def _lasting_state(client: redis.Redis, prefix: str) -> dict[str, object]:
    """The namespace's reservation state (`test_redis_loss._state`) less the callers' last
    bids: those expire on Redis's own clock, which the test's manual clock does not move."""
    return {k: v for k, v in _state(client, prefix).items() if ":last:" not in k}


def _call_through(client: TestClient, market_name: str, index: int, clock: ManualClock) -> None:
    """One market's life through the API: pings (peek, save_ping, reserve), a post (route),
    a billed call (release, the duplicate index), a bid left to expire (the sweeper's claim),
    a DNI lease (pool and session) and a blocked caller (every market's block list)."""
    market = build_cluster_market(client, market_name, caps={"concurrency": 2, "hourly": 5})
    _, key = market.publisher
    answer = market.ping(key, "+13105550301").json()
    assert answer["accepted"] is True, answer
    call = client.post(f"/v1/pings/{answer['ping_id']}/post", headers=auth(key)).json()
    for event in ({"type": "answered"}, {"type": "completed", "duration_s": 90}):
        done = client.post(f"/v1/calls/{call['call_id']}/events", json=event, headers=auth(key))
        assert done.status_code == 200, done.text
    assert done.json()["billable"] is True
    unposted = market.ping(key, "+13105550302").json()
    assert unposted["accepted"] is True, unposted
    publisher_id, _ = market.publisher
    pool_id = market.admin(
        "POST",
        "/v1/number-pools",
        json={
            "name": f"site {market_name}",
            "campaign_id": market.campaign_id,
            "publisher_id": publisher_id,
            "numbers": [f"+1415555{index}{n:03d}" for n in range(3)],
            "lease_ttl_s": 600,
        },
    )["id"]
    leased = client.get("/v1/dni/number", params={"pool": pool_id, "session": "visitor-123456"})
    assert leased.status_code == 200, leased.text
    clock.advance(timedelta(minutes=5))  # the unposted bid expires (the hour stays)
    swept = client.post("/v1/ops/sweep", headers=auth(ADMIN_KEY))
    assert swept.status_code == 200, swept.text
    assert swept.json()["handled"] >= 1, swept.text


def test_every_script_runs_on_a_cluster_with_markets_on_two_masters(
    redis_cluster: RedisClusterRig,
    cluster_settings: Settings,
    cluster_client: redis.Redis,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = Keys(cluster_settings.redis_prefix)
    first, second = markets_on_different_masters(redis_cluster, cluster_settings.redis_prefix)
    with TestClient(
        create_app(cluster_settings, clock=clock), base_url=BASE_URL, raise_server_exceptions=False
    ) as api:
        for index, market_name in enumerate((first, second), start=1):
            _call_through(api, market_name, index, clock)
        blocked = api.post(
            "/v1/blocklist", json={"number": "+13105550399"}, headers=auth(ADMIN_KEY)
        )
        assert blocked.status_code == 204, blocked.text

    async def sign_ins() -> int:
        client = async_client(str(cluster_settings.redis_url), cluster=True)
        try:
            limiter = LoginLimiter(client, keys)
            await limiter.failed("someone@example.com", "192.0.2.7")
            await limiter.succeeded("someone@example.com")
            return await limiter.retry_after_s("someone@example.com", "192.0.2.7")
        finally:
            await client.aclose()

    assert asyncio.run(sign_ins()) == 0

    # the rebuild (its lock's release and renewal scripts), on the state the traffic left
    before = _lasting_state(cluster_client, cluster_settings.redis_prefix)
    assert any(first in k for k in before), before
    assert any(second in k for k in before), before
    monkeypatch.setattr(recovery, "LOCK_MS", 150)  # renewed every 50 ms of the drain
    app = build_application(cluster_settings)
    try:
        summary = recovery.rebuild(app, cluster_client, cluster_settings.redis_prefix, clock.now())
    finally:
        app.close()
    assert summary is not None
    assert summary["keys_cleared"] > 0, summary
    assert _lasting_state(cluster_client, cluster_settings.redis_prefix) == before
    assert recovery.watch(cluster_client, cluster_settings.redis_prefix) is False

    scripts = every_script()
    assert len(scripts) >= 14, sorted(scripts)
    never_ran = [name for name, body in scripts.items() if not _ran_somewhere(redis_cluster, body)]
    assert not never_ran, f"scripts no code path ran on the cluster: {never_ran}"
