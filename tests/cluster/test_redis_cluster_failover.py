"""A Redis Cluster master is SIGKILLed under steady traffic on the API: while its replica is
not yet promoted, the market's requests are refused with 503 + Retry-After (never a 500);
once it is, the follower's tick sees the failover (a master the state was not built on) and
the state is rebuilt from the log — the writes the dead master had not replicated come back —
and the exchange takes calls again. Afterwards the log shows no concurrency cap and no
buyer's funds exceeded, and Redis holds exactly the state the log implies."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import redis
from fastapi.testclient import TestClient

from domain.clock import ManualClock
from eventstore.application import PPCXApplication
from exchange.keys import Keys
from ppcx.bootstrap import build_application
from ppcx.settings import Settings
from ppcx.web import create_app
from replay import recovery
from tests.api.conftest import BASE_URL, Market, auth
from tests.cluster.redis_support import (
    MARKET_NAMES,
    build_cluster_market,
    cluster_client,
    cluster_settings,
    redis_cluster,
)
from tests.cluster.test_redis_cluster_scripts import _lasting_state
from tests.support.waiting import wait_until
from tools.cluster.redis_cluster import Node, RedisClusterRig

pytestmark = [pytest.mark.integration, pytest.mark.cluster]
__all__ = ["cluster_client", "cluster_settings", "redis_cluster"]  # the fixtures used
CONCURRENCY_CAP = 2
LIMITED_DEPOSIT = "400.00"  # the second buyer's funds run out during the test
ACCEPTED_AFTER = 5  # calls the exchange takes once the state is rebuilt


class Traffic:
    """Pings, posts and completions on one market, one at a time, every answer counted."""

    def __init__(self, client: TestClient, market: Market) -> None:
        self.client = client
        self.market = market
        self.key = market.publisher[1]
        self.statuses: Counter[int] = Counter()
        self.accepted = 0
        self.open_calls: list[str] = []
        self._number = 0

    def step(self) -> bool:
        """One ping (and its post when accepted) → whether a call was taken."""
        self._number += 1
        answer = self.market.ping(self.key, f"+1310556{self._number:04d}")
        self.statuses[answer.status_code] += 1
        taken = False
        if answer.status_code == 200 and answer.json()["accepted"]:
            posted = self.client.post(
                f"/v1/pings/{answer.json()['ping_id']}/post", headers=auth(self.key)
            )
            self.statuses[posted.status_code] += 1
            if posted.status_code == 200:
                self.open_calls.append(posted.json()["call_id"])
                taken = True
        while len(self.open_calls) > CONCURRENCY_CAP:  # a few calls stay in progress
            if not self._complete(self.open_calls[0]):
                break  # Redis is away: completed on a later step
            self.open_calls.pop(0)
        if taken:
            self.accepted += 1
        return taken

    def _complete(self, call_id: str) -> bool:
        for event in ({"type": "answered"}, {"type": "completed", "duration_s": 90}):
            done = self.client.post(
                f"/v1/calls/{call_id}/events", json=event, headers=auth(self.key)
            )
            self.statuses[done.status_code] += 1
            if done.status_code != 200:
                return False
        return True


def _events(app: PPCXApplication) -> Iterator[tuple[str, dict[str, Any]]]:
    start = 1
    while rows := app.store.read_chained(start, 5000):
        for _, originator, _, topic, state, _ in rows:
            if topic is not None and state is not None and originator is not None:
                yield topic.partition(":")[2], {"_id": originator, **orjson.loads(state)}
        start = rows[-1][0] + 1


def _check_log(settings: Settings, targets: set[str]) -> tuple[int, int]:
    """No target ever held more than its concurrency cap, no buyer spent beyond its funds
    (no credit) → (most calls at once on a target, lowest available cents of a buyer)."""
    app = build_application(settings)
    open_holds: dict[str, set[str]] = {t: set() for t in targets}
    most = 0
    lowest = 0
    try:
        for name, state in _events(app):
            if name == "Call.AuctionDecided" and state.get("winner_target_id") in targets:
                open_holds[state["winner_target_id"]].add(state["hold_id"])
            elif name == "Call.CallRouted" and state["target_id"] in targets:
                open_holds[state["target_id"]].add(state["hold_id"])
            elif name in ("Buyer.HoldPosted", "Buyer.HoldVoided"):
                for holds in open_holds.values():
                    holds.discard(state["hold_id"])
            if name.startswith("Buyer.") and "balance" in state:
                b = state["balance"]
                available = b["credits_posted"] - b["debits_posted"] - b["debits_pending"]
                lowest = min(lowest, available)
            most = max(most, *(len(h) for h in open_holds.values()))
    finally:
        app.close()
    return most, lowest


def test_a_master_killed_under_traffic_is_refused_then_repaired_from_the_log(
    redis_cluster: RedisClusterRig,
    cluster_settings: Settings,
    cluster_client: redis.Redis,
    clock: ManualClock,
) -> None:
    prefix = cluster_settings.redis_prefix
    keys = Keys(prefix)
    market_name = MARKET_NAMES[0]
    with TestClient(
        create_app(cluster_settings, clock=clock), base_url=BASE_URL, raise_server_exceptions=False
    ) as api:
        market = build_cluster_market(
            api,
            market_name,
            deposits=("1000.00", LIMITED_DEPOSIT),
            caps={"concurrency": CONCURRENCY_CAP},
        )
        traffic = Traffic(api, market)
        for _ in range(10):
            traffic.step()
        assert traffic.accepted > 0, traffic.statuses
        built_on = recovery.read_generation(cluster_client, keys)
        assert built_on is not None

        killed: list[tuple[Node, Node]] = []
        killer = threading.Thread(
            target=lambda: killed.append(redis_cluster.kill_master_of(keys.config(market_name))),
            name="kill-master",
            daemon=True,
        )
        killer.start()
        while killer.is_alive():  # steady traffic through the failover
            traffic.step()
        killer.join()
        assert killed, "the master was not killed or its replica not promoted"
        refused = traffic.statuses[503]
        assert refused > 0, traffic.statuses  # the dead master's slot was refused meanwhile

        # the follower's tick takes the failover as a loss and rebuilds from the log
        def rebuilt() -> bool:
            generation = recovery.read_generation(cluster_client, keys)
            return generation is not None and generation.id != built_on.id

        wait_until(rebuilt, "the state rebuilt after the failover")
        taken_before = traffic.accepted
        wait_until(
            lambda: traffic.step() and traffic.accepted - taken_before >= ACCEPTED_AFTER,
            "calls taken again after the failover",
        )
        while traffic.open_calls:  # every call in progress ends
            assert traffic._complete(traffic.open_calls.pop(0))
    crashed = {s: n for s, n in traffic.statuses.items() if s >= 500 and s != 503}
    assert not crashed, traffic.statuses

    most, lowest = _check_log(cluster_settings, set(market.targets))
    assert most <= CONCURRENCY_CAP, f"{most} calls at once on a cap of {CONCURRENCY_CAP}"
    assert lowest >= 0, f"a buyer without credit went to {lowest} cents"

    # Redis holds exactly what the log implies: a rebuild now changes nothing
    before = _lasting_state(cluster_client, prefix)
    app = build_application(cluster_settings)
    try:
        assert recovery.rebuild(app, cluster_client, prefix, clock.now()) is not None
    finally:
        app.close()
    assert _lasting_state(cluster_client, prefix) == before


def test_a_reservation_no_replica_has_is_undone_and_the_ping_refused(
    redis_cluster: RedisClusterRig,
    cluster_settings: Settings,
    cluster_client: redis.Redis,
    clock: ManualClock,
) -> None:
    """PPCX_REDIS_REPLICA_ACK_MS: a reservation is kept only once a replica of its master has
    it (WAIT 1), so a failover cannot lose it; with the replica stopped, the ping is refused
    (503) and the reservation undone: the market's funds and caps are as they were."""
    market_name = MARKET_NAMES[0]
    keys = Keys(cluster_settings.redis_prefix)
    with TestClient(
        create_app(cluster_settings, clock=clock), base_url=BASE_URL, raise_server_exceptions=False
    ) as client:
        market = build_cluster_market(client, market_name)
        key = market.publisher[1]
        assert market.ping(key, "+13105560001").json()["accepted"] is True  # all is well

        def state() -> tuple[object, object]:
            return (
                cluster_client.hgetall(keys.funds(market_name)),
                cluster_client.hgetall(keys.caps(market_name)),
            )

        replica = redis_cluster.replica_of(redis_cluster.master_for(keys.funds(market_name)))
        before = state()
        replica.process.send_signal(signal.SIGSTOP)  # it has nothing more, for now
        try:
            refused = market.ping(key, "+13105560002")
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"]
            assert state() == before  # the reservation was undone
        finally:
            replica.process.send_signal(signal.SIGCONT)
        wait_until(redis_cluster.healthy, "the replica back in sync")
        again = market.ping(key, "+13105560003")
        assert again.status_code == 200, again.text
        assert again.json()["accepted"] is True
