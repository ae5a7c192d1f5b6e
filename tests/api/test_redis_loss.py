"""Redis loses the exchange's state (a flush) while calls are open, with real Redis, NATS and
SQLite: the next ping is refused with 503 + Retry-After (never auctioned on missing state),
one rebuild from the log brings the state back online — no restart — and caps, funds,
duplicates and round-robin cursors are what they were before the loss."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from domain.clock import ManualClock
from exchange.keys import Keys
from ppcx.settings import Settings
from tests.api.conftest import auth, build_market

pytestmark = pytest.mark.e2e
REBUILD_BOUND_S = 120  # an upper bound (a rebuild of this log takes well under a second)


def _state(client: redis.Redis, prefix: str) -> dict[str, Any]:
    """The reservation state of the namespace: caps and spend, funds held and posted, live
    calls, holds, duplicates, cursors — everything a rebuild must restore exactly (the
    follower's bookkeeping, config versions and the generation are not state)."""
    keys = Keys(prefix)
    found: dict[str, Any] = {}
    for key in client.scan_iter(match=f"{prefix}:{{m:*"):
        name = key.decode()
        kind = client.type(key).decode()
        if name.endswith((":cfg", ":gen", ":expiries")) or ":ping:" in name or ":res:" in name:
            continue
        if kind == "hash":
            value = {k.decode(): v.decode() for k, v in client.hgetall(key).items()}
            # versions are bookkeeping; a count given back to zero is no count at all
            value = {k: v for k, v in value.items() if not k.endswith(":v") and v != "0"}
        elif kind == "zset":
            value = sorted(m.decode() for m in client.zrange(key, 0, -1))
        else:
            value = client.get(key)
        found[name] = value
    assert keys.markets()  # the layout module names every key
    return found


def _until_accepted(market: Any, key: str, number: str) -> Any:
    deadline = time.monotonic() + REBUILD_BOUND_S
    while True:
        answer = market.ping(key, number)
        if answer.status_code == 200:
            return answer.json()
        assert answer.status_code == 503, answer.text
        assert time.monotonic() < deadline, "the state was not rebuilt"
        time.sleep(0.05)


def test_a_flushed_redis_is_refused_then_rebuilt_online_with_every_count_kept(
    client: TestClient,
    clock: ManualClock,
    api_settings: Settings,
    redis_client: redis.Redis,
) -> None:
    # one buyer takes one call at a time; the other has an hourly cap of 2
    market = build_market(client, bids=("50.00", "45.00"))
    (capped, hourly) = list(market.targets)
    market.admin("POST", f"/v1/targets/{capped}/pause")  # set caps through a new target each
    _, key = market.publisher
    buyer_a, buyer_b = list(market.buyers)
    one_at_a_time = market.admin(
        "POST",
        "/v1/targets",
        json={
            "buyer_id": buyer_a,
            "campaign_id": market.campaign_id,
            "destination": "+13105550250",
            "bid": "60.00",
            "caps": {"concurrency": 1},
        },
    )["id"]
    market.admin("POST", f"/v1/targets/{hourly}/pause")
    two_an_hour = market.admin(
        "POST",
        "/v1/targets",
        json={
            "buyer_id": buyer_b,
            "campaign_id": market.campaign_id,
            "destination": "+13105550251",
            "bid": "55.00",
            "caps": {"hourly": 2},
        },
    )["id"]
    # a call in progress on the one-at-a-time target; a billed call (a duplicate from now on)
    live = market.ping(key, "+13105550301").json()
    client.post(f"/v1/pings/{live['ping_id']}/post", headers=auth(key)).raise_for_status()
    billed = market.ping(key, "+13105550302").json()
    call = client.post(f"/v1/pings/{billed['ping_id']}/post", headers=auth(key)).json()
    for event in ({"type": "answered"}, {"type": "completed", "duration_s": 90}):
        done = client.post(f"/v1/calls/{call['call_id']}/events", json=event, headers=auth(key))
        assert done.status_code == 200, done.text
    assert done.json()["billable"] is True
    clock.advance(timedelta(seconds=1))
    before = _state(redis_client, api_settings.redis_prefix)
    assert any(":live:" in k for k in before)

    # the loss: every key of the namespace gone, as after a FLUSHALL
    for found in redis_client.scan_iter(match=f"{api_settings.redis_prefix}*"):
        redis_client.delete(found)
    refused = market.ping(key, "+13105550303")
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "application/problem+json"

    # rebuilt online (this worker took the rebuild on the refusal): the counts are back
    deadline = time.monotonic() + REBUILD_BOUND_S
    while not redis_client.exists(Keys(api_settings.redis_prefix).generation()):
        assert time.monotonic() < deadline, "the state was not rebuilt"
        time.sleep(0.05)
    assert _state(redis_client, api_settings.redis_prefix) == before
    answer = _until_accepted(market, key, "+13105550304")
    # the concurrency cap holds: the one-at-a-time target still has its call, so the new
    # ping went to the hourly one (which had one of its two calls this hour)
    posted = client.post(f"/v1/pings/{answer['ping_id']}/post", headers=auth(key)).json()
    assert posted["destination"] == "+13105550251"
    # the hourly cap holds: its second call this hour was the last
    last = market.ping(key, "+13105550305").json()
    assert last["accepted"] is False, last
    # the duplicate index came back: the billed caller is a duplicate for its buyer
    repeat = market.ping(key, "+13105550302").json()
    assert repeat["accepted"] is False, repeat
    assert one_at_a_time != two_an_hour
