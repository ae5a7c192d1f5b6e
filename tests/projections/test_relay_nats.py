"""The relay and the JetStream projector against a real NATS server with JetStream."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from domain.clock import ManualClock
from ppcx.bootstrap import Domain
from ppcx.services import find_binary, free_loopback_port, nats_info
from ppcx.settings import Settings
from projections.projector import Projector
from projections.relay import Relay
from projections.store import ProjectionStore
from tests.projections.conftest import dump, project_log
from tests.support.market import build_market
from tests.support.scenario import drive_calls
from tests.support.waiting import WAIT_S_MAX, until

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def _relay(domain: Domain, settings: Settings, nats_url: str | None = None) -> Relay:
    assert settings.nats_url is not None
    return Relay(
        domain.app.store.read_chained,
        domain.app.positions(),
        nats_url=nats_url or settings.nats_url,
        stream=settings.nats_stream,
        subject_prefix=settings.nats_subject_prefix,
    )


async def _stream_count(nats_url: str, stream: str) -> int:
    connection = await nats.connect(nats_url)
    try:
        info = await connection.jetstream().stream_info(stream)
        return int(info.state.messages)
    finally:
        await connection.close()


def _events(domain: Domain) -> int:
    return domain.app.store.head()


async def test_nats_path_gives_the_same_tables_as_the_log(
    market_log: Domain, settings: Settings, nats_stream: str, tmp_path: Path
) -> None:
    assert settings.nats_url is not None
    stats = await _relay(market_log, settings).run(follow=False)
    total = _events(market_log)
    assert (stats.published, stats.duplicates, stats.position) == (total, 0, total)
    assert await _stream_count(settings.nats_url, nats_stream) == total
    via_log = project_log(market_log, tmp_path / "log.duckdb")
    via_nats = ProjectionStore(tmp_path / "nats.duckdb")
    await Projector(via_nats).run_from_nats(
        settings.nats_url, nats_stream, settings.nats_subject_prefix, follow=False, batch_events=313
    )
    assert via_nats.position() == total
    assert dump(via_nats) == dump(via_log)


class _CrashAfterPublishing(Relay):
    """The worst moment to die: the page is in JetStream, the position is not recorded."""

    async def _publish(self, js: nats.js.JetStreamContext, rows: list) -> None:  # type: ignore[type-arg]
        if self.stats.position > 0:
            self.positions.advance = _raise  # type: ignore[method-assign]
        await super()._publish(js, rows)


def _raise(name: str, position: int) -> None:
    raise RuntimeError("killed before recording the position")


async def test_relay_restarted_mid_stream_duplicates_nothing_and_loses_nothing(
    market_log: Domain, settings: Settings, nats_stream: str
) -> None:
    assert settings.nats_url is not None
    crashing = _CrashAfterPublishing(
        market_log.app.store.read_chained,
        market_log.app.positions(),
        nats_url=settings.nats_url,
        stream=settings.nats_stream,
        subject_prefix=settings.nats_subject_prefix,
        page_events=300,
    )
    with pytest.raises(RuntimeError, match="killed"):
        await crashing.run(follow=False)
    first_page = crashing.stats.position
    assert 0 < first_page < _events(market_log)
    restarted = _relay(market_log, settings)
    assert restarted.position() == first_page
    stats = await restarted.run(follow=False)
    total = _events(market_log)
    assert stats.duplicates > 0  # the page published before the crash, dropped by JetStream
    assert stats.published + stats.duplicates == total - first_page
    assert await _stream_count(settings.nats_url, nats_stream) == total


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[tuple[str, Path, list[subprocess.Popen[bytes]]]]:
    """A NATS server of this test's own (so the test may stop it), on a fixed port."""
    port = free_loopback_port()
    store = tmp_path / "nats-store"
    processes: list[subprocess.Popen[bytes]] = []
    yield f"nats://127.0.0.1:{port}", store, processes
    for process in processes:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=WAIT_S_MAX)


def _spawn_nats(port: int, store: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(find_binary("nats")), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _start_nats(url: str, store: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    """Start the test's NATS and wait until it serves JetStream."""
    port = int(url.rsplit(":", 1)[1])
    process = _spawn_nats(port, store)
    processes.append(process)
    end = time.monotonic() + WAIT_S_MAX
    while True:
        info = await asyncio.to_thread(nats_info, "127.0.0.1", port)
        if info and info.get("jetstream"):
            return
        assert process.poll() is None, f"nats-server exited with {process.returncode}"
        assert time.monotonic() < end, f"nats-server not serving JetStream within {WAIT_S_MAX} s"
        await asyncio.sleep(0.05)


async def test_nats_stopped_and_restarted_during_a_run_loses_nothing(
    settings: Settings, clock: ManualClock, own_nats: tuple[str, Path, list], tmp_path: Path
) -> None:
    from ppcx.bootstrap import build_domain

    url, store, processes = own_nats
    await _start_nats(url, store, processes)
    domain = build_domain(settings, clock=clock)
    try:
        market = build_market(domain, buyers=2, deposit="100000.00")
        drive_calls(market, clock, 30, seed=5)
        relay = _relay(domain, settings, nats_url=url)
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(follow=True, stop=stop))
        first = _events(domain)
        await until(lambda: relay.stats.position == first, "the relay published the first calls")
        retries = relay.stats.retries
        processes[-1].send_signal(signal.SIGKILL)  # NATS goes away
        processes[-1].wait(timeout=WAIT_S_MAX)
        await asyncio.to_thread(drive_calls, market, clock, 30, 6)  # the exchange goes on
        # the relay tries to publish the new events, gets no acknowledgement and retries
        await until(lambda: relay.stats.retries > retries, "the relay met the NATS outage")
        assert relay.stats.position == first  # nothing could be published
        await _start_nats(url, store, processes)  # NATS is back, with its JetStream store
        total = _events(domain)
        await until(
            lambda: relay.stats.position == total, "the relay caught up after NATS came back"
        )
        stop.set()
        await running
        assert relay.stats.position == total
        assert await _stream_count(url, settings.nats_stream) == total
        via_nats = ProjectionStore(tmp_path / "nats.duckdb")
        await Projector(via_nats).run_from_nats(
            url, settings.nats_stream, settings.nats_subject_prefix, follow=False
        )
        assert dump(via_nats) == dump(project_log(domain, tmp_path / "log.duckdb"))
    finally:
        domain.close()
