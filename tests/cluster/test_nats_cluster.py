"""The relay and a JetStream consumer (the projector from NATS) on a three-node NATS cluster
with a stream of three replicas: a node killed (SIGKILL) under steady publishing stops
nothing — the relay and the projector reach the log's head, every event in the stream once —
and the node, restarted, catches up with the others."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from domain.clock import ManualClock
from eventstore.nats_servers import nats_servers
from ppcx.bootstrap import Domain, build_domain
from ppcx.settings import Settings
from projections.projector import Projector, durable_for
from projections.relay import Relay
from projections.store import ProjectionStore
from tests.support.market import Market, build_market
from tests.support.scenario import drive_calls
from tests.support.waiting import until
from tools.cluster.nats_cluster import NatsCluster

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.anyio]
REPLICAS = 3
CALLS_PER_ROUND = 2
ROUND_PAUSE_S = 0.1  # steady, not flooding: a relay stalled by the kill catches up soon
PROJECTOR_BATCH_EVENTS = 1000
PAGE_EVENTS = 50  # many small pages: the kill lands between and inside them


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """Three JetStream nodes routed to each other, formed (a meta leader elected); stopped
    (no process left) after the test."""
    with NatsCluster(tmp_path / "nats-cluster") as cluster:
        yield cluster


@pytest.fixture
def cluster_settings(local_settings: Settings, nats_cluster: NatsCluster) -> Settings:
    return local_settings.model_copy(
        update={"nats_url": ",".join(nats_cluster.urls), "nats_replicas": REPLICAS}
    )


@pytest.fixture
def market(cluster_settings: Settings, clock: ManualClock) -> Iterator[tuple[Domain, Market]]:
    domain = build_domain(cluster_settings, clock=clock)
    try:
        yield domain, build_market(domain, buyers=3, deposit="1000000.00")
    finally:
        domain.close()


async def test_cluster_forms_and_serves_a_comma_separated_url(nats_cluster: NatsCluster) -> None:
    leaders = {nats_cluster.meta_leader(index) for index in range(3)}
    assert len(leaders) == 1
    assert leaders <= {"n1", "n2", "n3"}
    # the first listed node down: the others still let a client in
    nats_cluster.kill(0)
    connection = await nats.connect(nats_cluster.urls, connect_timeout=2)
    try:
        assert connection.connected_url is not None
        assert connection.connected_url.port != nats_cluster.nodes[0].client_port
    finally:
        await connection.close()


async def test_a_node_killed_under_publishing_loses_and_duplicates_nothing(
    nats_cluster: NatsCluster,
    cluster_settings: Settings,
    market: tuple[Domain, Market],
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    domain, built = market
    settings = cluster_settings
    assert settings.nats_url is not None
    url, stream = settings.nats_url, settings.nats_stream
    relay = Relay(
        domain.app.store.read_chained,
        domain.app.positions(),
        nats_url=url,
        stream=stream,
        subject_prefix=settings.nats_subject_prefix,
        page_events=PAGE_EVENTS,
        replicas=settings.nats_replicas,
    )
    projector = Projector(ProjectionStore(tmp_path / "projected.duckdb"))
    stop, writing = asyncio.Event(), asyncio.Event()
    writing.set()

    async def write() -> None:  # steady publishing: a few calls at a time, until told
        seed = 0
        while writing.is_set():
            seed += 1
            await asyncio.to_thread(drive_calls, built, clock, CALLS_PER_ROUND, seed)
            await asyncio.sleep(ROUND_PAUSE_S)

    tasks = [
        asyncio.create_task(write()),
        asyncio.create_task(relay.run(follow=True, stop=stop)),
        asyncio.create_task(
            projector.run_from_nats(
                url,
                stream,
                settings.nats_subject_prefix,
                follow=True,
                stop=stop,
                batch_events=PROJECTOR_BATCH_EVENTS,
                replicas=settings.nats_replicas,
                durable=durable_for("host1", str(tmp_path / "projected.duckdb")),  # as on PG
            )
        ),
    ]
    try:
        await until(lambda: projector.stats.position > 0, "the projector's first batch")
        connection = await nats.connect(nats_servers(url), connect_timeout=2)
        js = connection.jetstream()
        info = await js.stream_info(stream)
        assert info.config.num_replicas == REPLICAS
        assert info.cluster is not None
        assert info.cluster.leader is not None
        killed = nats_cluster.index_of(info.cluster.leader)  # the stream's leader: the worst
        nats_cluster.kill(killed)
        at_kill = domain.app.store.head()
        await until(
            lambda: relay.stats.position > at_kill + PAGE_EVENTS,
            "the relay going on past the kill",
        )
        await until(
            lambda: projector.stats.position > at_kill, "the projector going on past the kill"
        )
        writing.clear()
        await tasks[0]
        head = domain.app.store.head()
        await until(lambda: relay.stats.position == head, "the relay at the log's head")
        await until(lambda: projector.stats.position == head, "the projector at the head")

        info = await js.stream_info(stream)
        # every event once: as many messages as events, in order, none twice
        assert (info.state.messages, info.state.first_seq, info.state.last_seq) == (head, 1, head)
        assert await _message_ids(js, stream, head) == list(range(1, head + 1))

        nats_cluster.restart(killed)
        await until(
            lambda: nats_cluster.stored_messages(killed, stream) == head,
            "the restarted node's replica caught up",
        )
        await connection.close()
    finally:
        writing.clear()
        stop.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 60)
        projector.store.close()


async def _message_ids(js: nats.js.JetStreamContext, stream: str, count: int) -> list[int]:
    """The notification id of each stored message, in stream order (`Nats-Msg-Id`)."""
    ids = []
    for seq in range(1, count + 1):
        found = await js.get_msg(stream, seq)
        ids.append(int((found.headers or {})["Nats-Msg-Id"]))
    return ids
