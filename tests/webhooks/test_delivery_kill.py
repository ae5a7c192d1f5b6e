"""The real delivery process (`ppcx webhooks`) SIGKILLed while deliveries are in flight loses
nothing: what it had not recorded as delivered is sent again by the next process, and what it
had fetched from JetStream but not acknowledged is redelivered by the stream. The process runs
against this test's own store, stream and Redis prefix; the receiver is on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from domain.api_key import Role
from domain.clock import ManualClock
from eventstore.deliveries import FILE_NAME, DeliveryStore
from ppcx.bootstrap import Domain
from ppcx.settings import Settings
from tests.support.environment import ppcx_env
from tests.support.market import Market, build_market
from tests.support.scenario import drive_calls
from tests.support.waiting import until
from tests.webhooks.test_delivery import (
    Received,
    every_kind_of_call,
    register,
    relay,
    sent_events,
)
from webhooks.outbound import parse_networks
from webhooks.payloads import SENT_TOPICS, message_id
from webhooks.worker import DeliveryWorker

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

OPEN_FOR = 8  # requests answered at once before the receiver starts holding them


@dataclass
class HoldingReceiver:
    """Answers the first `OPEN_FOR` requests at once and holds the rest until `release`: the
    process is killed with those in flight."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    requests: list[Received] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Received(request.path_qs, dict(request.headers), body, 200))
        if len(self.requests) > OPEN_FOR:
            await self.release.wait()
        return web.Response(text="thanks")

    def ids(self) -> set[str]:
        return {r.headers["webhook-id"] for r in self.requests}


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[HoldingReceiver, str]]:
    made = HoldingReceiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", made.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield made, f"http://{host}:{port}/hook"
    finally:
        made.release.set()
        await runner.cleanup()


def _env(settings: Settings) -> dict[str, str]:
    return {**ppcx_env(settings), "PPCX_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8"}


def _start(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "ppcx"), "webhooks"],
            env=_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _killed(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the process's own group (nothing it started outlives it), then reaped."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


async def test_the_process_killed_mid_stream_loses_nothing(
    domain: Domain,
    hook_settings: Settings,
    now_clock: ManualClock,
    receiver: tuple[HoldingReceiver, str],
    tmp_path: Path,
) -> None:
    rx, url = receiver
    market: Market = build_market(domain, buyers=2)
    hook_id, _ = register(domain, Role.ADMIN, None, url)
    drive_calls(market, now_clock, 40, seed=5)
    await relay(domain, hook_settings)
    expected = {message_id(hook_id, c, v) for c, v, _ in sent_events(domain)}
    log = tmp_path / "webhooks.log"
    first = _start(hook_settings, log)
    try:
        await until(lambda: len(rx.requests) > OPEN_FOR, "deliveries held in flight")
        assert first.poll() is None, log.read_text()
    finally:
        _killed(first)
    assert first.returncode == -signal.SIGKILL
    held = len(rx.requests) - OPEN_FOR
    assert held >= 1
    assert len(rx.ids()) < len(expected)
    rx.release.set()
    second = _start(hook_settings, log)
    try:
        await until(lambda: rx.ids() == expected, "every event after the restart")
    finally:
        _killed(second)
    assert rx.ids() == expected
    arrivals: dict[str, list[int]] = {}
    for r in rx.requests:
        data = r.json()["data"]
        arrivals.setdefault(data["call_id"], []).append(data["version"])
    for versions in arrivals.values():
        assert versions == sorted(versions)


async def test_a_later_event_recorded_first_brings_the_earlier_ones_with_it(
    domain: Domain, hook_settings: Settings, now_clock: ManualClock, tmp_path: Path
) -> None:
    """What a killed worker leaves unacknowledged comes back after the ack wait, behind the
    call's later events: recording a later event records the earlier ones too, so the store
    still offers the call's deliveries in order."""
    market = build_market(domain, buyers=2)
    hook_id, _ = register(domain, Role.ADMIN, None, "http://127.0.0.1:9/hook")
    call_id = every_kind_of_call(market, now_clock)[0]
    versions = [v for _, v, t, _ in domain.app.store.read_aggregate(call_id) if t in SENT_TOPICS]
    topics = {v: t for _, v, t, _ in domain.app.store.read_aggregate(call_id)}
    store = DeliveryStore(tmp_path / "deliveries" / FILE_NAME)
    try:
        worker = DeliveryWorker(
            domain.app,
            domain.webhooks,
            store,
            now_clock,
            parse_networks(hook_settings.webhook_allowed_networks),
            domain.webhooks.policy.secret_of,
        )

        def message(version: int) -> bytes:
            return orjson.dumps(
                {"topic": topics[version], "originator_id": call_id, "originator_version": version}
            )

        assert len(versions) > 2
        assert worker.record(message(versions[-2])) == len(versions) - 1
        assert worker.record(message(versions[0])) == 0
        assert worker.record(message(versions[-1])) == 1
        due = store.due(2**62, 100, skip_webhooks=[], skip_ids=[])
    finally:
        store.close()
    assert [d.id for d in due] == [message_id(hook_id, call_id, versions[0])]
