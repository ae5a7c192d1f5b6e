"""The whole cluster on loopback — a Redis Cluster (three masters, a replica each), a NATS
cluster (three nodes, the events stream at three replicas) and two PPCX hosts on one
PostgreSQL store, every host running every role — with a fault under steady traffic through
both hosts:

* a Redis master killed: its replica takes over; meanwhile the exchange refuses (503, never a
  500) and the loss is repaired from the log; no cap or fund limit is exceeded;
* a NATS node killed: the relay's delivery goes on to the other two.

After each: every acknowledged request is in the log once, the relay and both hosts'
projections reach the head, and `replay verify` passes against the relay's checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ppcx.settings import Settings
from tests.support.system import check_answers, check_log
from tools.cluster.hosts import Hosts, Postgres, hosts, wait_all_caught_up
from tools.cluster.nats_cluster import NatsCluster
from tools.cluster.redis_cluster import RedisClusterRig
from tools.sim.served import Traffic, TrafficMarket, build

pytestmark = [pytest.mark.integration, pytest.mark.cluster]
CYCLES_AROUND = 20  # traffic cycles per host before and after the fault
MARKET_TAG = "{m:main}"  # the hash tag of the market's keys: one slot, one master


@dataclass
class Cluster:
    redis: RedisClusterRig
    nats: NatsCluster
    rig: Hosts


@pytest.fixture
def cluster(postgres_settings: Settings, tmp_path: Path, unique: str) -> Iterator[Cluster]:
    postgres = Postgres(
        dbname=postgres_settings.postgres_dbname,
        schema=postgres_settings.postgres_schema,
        host=postgres_settings.postgres_host,
        port=postgres_settings.postgres_port,
        user=postgres_settings.postgres_user,
        password=postgres_settings.postgres_password,
    )
    with (
        RedisClusterRig(tmp_path / "redis") as redis_cluster,
        NatsCluster(tmp_path / "nats") as nats_cluster,
        hosts(
            tmp_path / "rig",
            count=2,
            redis_url=redis_cluster.url,
            nats_url=",".join(nats_cluster.urls),
            postgres=postgres,
            name=f"c{unique}",
            extra={
                "PPCX_REDIS_CLUSTER": "true",
                "PPCX_NATS_REPLICAS": "3",
                "PPCX_CHECKPOINT_INTERVAL_S": "2",
            },
        ) as rig,
    ):
        yield Cluster(redis_cluster, nats_cluster, rig)


def _traffic_around(rig: Hosts, market: TrafficMarket, fault: object) -> list[Traffic]:
    """Traffic through both hosts; `fault()` in the middle; both still served after it."""
    traffics = [Traffic(host, market).start() for host in rig.hosts]
    try:
        for traffic in traffics:
            traffic.wait_cycles(CYCLES_AROUND)
        fault()  # type: ignore[operator]
        served = [t.statuses["pings 200"] for t in traffics]
        for traffic in traffics:
            traffic.wait_cycles(CYCLES_AROUND)
        for before, traffic in zip(served, traffics, strict=True):
            assert traffic.statuses["pings 200"] > before  # served again after the fault
    finally:
        for traffic in traffics:
            traffic.stop()
    return traffics


def _checked_after(rig: Hosts, market: TrafficMarket, traffics: list[Traffic]) -> None:
    for traffic in traffics:
        check_answers(traffic)  # refusals (503) at most: no 500, no dropped connection
    wait_all_caught_up(rig)
    for traffic in traffics:
        check_log(rig.hosts[0], traffic, market)
    verified = rig.ppcx("replay", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "checked against the checkpoint from" in verified.stdout, verified.stdout


def test_a_redis_master_killed_under_traffic_through_both_hosts(cluster: Cluster) -> None:
    rig = cluster.rig
    market = build(rig.hosts[0])
    promoted: list[str] = []

    def fault() -> None:
        killed, replica = cluster.redis.kill_master_of(MARKET_TAG)
        promoted.append(f"{killed.port} → {replica.port}")

    traffics = _traffic_around(rig, market, fault)
    print(f"\nredis master {promoted[0]}: " + "; ".join(str(dict(t.statuses)) for t in traffics))
    _checked_after(rig, market, traffics)


def test_a_nats_node_killed_under_traffic_through_both_hosts(cluster: Cluster) -> None:
    rig = cluster.rig
    market = build(rig.hosts[0])
    traffics = _traffic_around(rig, market, lambda: cluster.nats.kill(0))
    print("\nnats node 0 killed: " + "; ".join(str(dict(t.statuses)) for t in traffics))
    _checked_after(rig, market, traffics)  # the relay reached the head on the other two
