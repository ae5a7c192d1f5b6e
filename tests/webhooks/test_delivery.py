"""The delivery worker against real receivers on loopback, real NATS (the relay publishes the
log) and its own SQLite file: what arrives, signed, redacted, retried, in order, and nothing
lost across a restart. The clock is a ManualClock (retries come due when it is moved on);
nothing waits for wall-clock time to pass."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook as StandardWebhook

from domain.api_key import Role
from domain.clock import ManualClock
from domain.commands import (
    ChangeWebhook,
    CompleteCall,
    FailOver,
    PostCall,
    RecordAnswer,
    RecordRecording,
    RegisterWebhook,
)
from domain.ids import new_id
from domain.recording import recording_id, recording_key
from domain.scoring import LinearModel
from domain.webhook_events import SENT_FOR, WebhookEvent
from eventstore.deliveries import FILE_NAME, DeliveryStore
from eventstore.stream_consumer import StreamSource
from handlers import parse
from handlers.scoring import ActiveModel
from ppcx.bootstrap import Domain
from ppcx.settings import Settings
from projections.relay import Relay
from tests.support.market import Market, build_market
from tests.support.scenario import drive_calls
from tests.support.waiting import until
from tests.unit.webhooks.test_payloads import BUYER_FIELDS
from webhooks.outbound import parse_networks
from webhooks.payloads import SENT_TOPICS, message_id
from webhooks.worker import DeliveryWorker

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

EVERY_EVENT = tuple(dict.fromkeys(e.value for e in SENT_FOR.values()))  # each once
PIXEL = "/pixel?c={call_id}&e={event}&p={payout}&r={revenue}&s={state}&k={click_id}"


@pytest.fixture
def market(domain: Domain) -> Market:
    return build_market(domain, buyers=2)


# -- receivers -------------------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    def json(self) -> dict[str, Any]:
        decoded: dict[str, Any] = orjson.loads(self.body)
        return decoded


@dataclass
class Receiver:
    """Records every request; answers `status`, after `gate` is set when there is one."""

    status: int = 200
    gate: asyncio.Event | None = None
    requests: list[Received] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.status
        self.requests.append(Received(request.path_qs, dict(request.headers), body, status))
        if self.gate is not None:
            await self.gate.wait()
        return web.Response(status=status, text="thanks")

    def delivered(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status <= 299]

    def delivered_ids(self) -> set[str]:
        return {r.headers["webhook-id"] for r in self.delivered()}


@pytest.fixture
async def receivers() -> AsyncIterator[list[Receiver]]:
    """Up to four receivers on loopback; more are never needed."""
    made: list[Receiver] = []
    runners = []
    for _ in range(4):
        receiver = Receiver()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", receiver.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        receiver.url = f"http://{host}:{port}"
        made.append(receiver)
        runners.append(runner)
    try:
        yield made
    finally:
        for receiver in made:
            if receiver.gate is not None:
                receiver.gate.set()
        for runner in runners:
            await runner.cleanup()


# -- the pieces ------------------------------------------------------------------------------------


def register(
    domain: Domain,
    role: Role,
    owner_id: str | None,
    url: str,
    method: str = "POST",
    events: tuple[str, ...] = EVERY_EVENT,
) -> tuple[str, str]:
    webhook = domain.webhooks.register(
        RegisterWebhook(role, owner_id, url, method, events, "test", by="test")
    )
    return webhook.id, domain.webhooks.secret(webhook)


def every_kind_of_call(market: Market, clock: ManualClock) -> list[str]:
    """Calls whose events are every one of SENT_FOR: billed (failed over, converted, disputed
    and resolved, recorded, scored), not billed (too short: flagged a short call), and a ping no buyer took."""
    d = market.domain.calls
    scoring = market.domain.scoring
    model = LinearModel(intercept_micro=0, weights_micro={})  # every call scores 50%
    scoring.record_training(
        model, auc_bp=5000, calls_trained=0, calls_held_out=0, since_at=None, by="test"
    )
    active = ActiveModel(model.version, model, clock.now())
    clock.advance(timedelta(seconds=1))  # a model scores the calls pinged after its training
    billed = market.auction(market.targets).call_id
    d.post_call(PostCall(billed))
    d.fail_over(FailOver(billed, "no_answer", market.targets[1], new_id("hold")))
    d.record_answer(RecordAnswer(billed))
    clock.advance(timedelta(seconds=120))
    d.complete_call(CompleteCall(billed, 120))
    d.convert_call(parse.convert_call(call_id=billed, by="buyer", value="120.00"))
    dispute = d.dispute_call(parse.dispute_call(call_id=billed, reason="wrong", by="buyer"))
    d.resolve_dispute(
        parse.resolve_dispute(call_id=billed, dispute_id=dispute, accept=False, by="finance")
    )
    recording = recording_id(billed, "RE" + "7" * 32)
    market.domain.recordings.record(
        RecordRecording(
            call_id=billed,
            recording_id=recording,
            sha256="ab" * 32,
            duration_s=120,
            size_bytes=4096,
            location=recording_key(billed, recording, "audio/wav"),
            content_type="audio/wav",
        )
    )
    assert scoring.score_call(billed, active) == 5000
    short = market.auction(market.targets).call_id
    d.post_call(PostCall(short))
    d.record_answer(RecordAnswer(short))
    clock.advance(timedelta(seconds=5))
    d.complete_call(CompleteCall(short, 5))  # under the campaign's short_call_s: flagged
    rejected = market.auction([]).call_id
    return [billed, short, rejected]


async def relay(domain: Domain, settings: Settings) -> None:
    assert settings.nats_url is not None
    await Relay(
        domain.app.store.read_chained,
        domain.app.positions(),
        nats_url=settings.nats_url,
        stream=settings.nats_stream,
        subject_prefix=settings.nats_subject_prefix,
    ).run(follow=False)


@dataclass
class Running:
    worker: DeliveryWorker
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def halt(self) -> None:
        self.stop.set()
        await self.task


def start(domain: Domain, settings: Settings, clock: ManualClock, store: DeliveryStore) -> Running:
    assert settings.nats_url is not None
    worker = DeliveryWorker(
        domain.app,
        domain.webhooks,
        store,
        clock,
        parse_networks(settings.webhook_allowed_networks),
        domain.webhooks.policy.secret_of,
        rng=random.Random(7),
    )
    stop = asyncio.Event()
    source = StreamSource(settings.nats_url, settings.nats_stream, settings.nats_subject_prefix)
    return Running(worker, stop, asyncio.create_task(worker.run(source, stop)))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DeliveryStore]:
    opened = DeliveryStore(tmp_path / FILE_NAME)
    try:
        yield opened
    finally:
        opened.close()


def sent_events(domain: Domain) -> list[tuple[str, int, WebhookEvent]]:
    """(call id, version, type) of every stored event a webhook is sent for."""
    rows = domain.app.store.read_topics(
        1, 100_000, stop=domain.app.store.head(), topics=list(SENT_TOPICS)
    )
    return [(call_id, version, SENT_TOPICS[topic]) for _, call_id, version, topic, _ in rows]


def keys_at_any_depth(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_at_any_depth(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_at_any_depth(v)}
    return set()


def versions_in_arrival_order(receiver: Receiver) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = {}
    for r in receiver.delivered():
        data = r.json()["data"]
        seen.setdefault(data["call_id"], []).append(data["version"])
    return seen


# -- the tests -------------------------------------------------------------------------------------


async def test_every_event_type_arrives_signed_and_redacted(
    domain: Domain,
    market: Market,
    hook_settings: Settings,
    now_clock: ManualClock,
    store: DeliveryStore,
    receivers: list[Receiver],
) -> None:
    admin_rx, pub_rx, buyer_rx, pixel_rx = receivers
    admin_id, admin_secret = register(domain, Role.ADMIN, None, admin_rx.url + "/hook")
    pub_id, pub_secret = register(domain, Role.PUBLISHER, market.publisher_id, pub_rx.url)
    buyer = market.buyers[0]
    register(domain, Role.BUYER, buyer, buyer_rx.url)
    register(domain, Role.PUBLISHER, market.publisher_id, pixel_rx.url + PIXEL, method="GET")
    calls = every_kind_of_call(market, now_clock)
    await relay(domain, hook_settings)
    running = start(domain, hook_settings, now_clock, store)
    expected = sent_events(domain)
    try:
        await until(lambda: len(admin_rx.delivered()) == len(expected), "the admin's events")
        await until(lambda: store.due(2**62, 1, skip_webhooks=[], skip_ids=[]) == [], "all sent")
    finally:
        await running.halt()
    assert {r.json()["type"] for r in admin_rx.delivered()} == set(EVERY_EVENT)
    assert admin_rx.delivered_ids() == {message_id(admin_id, c, v) for c, v, _ in expected}
    for r in admin_rx.requests:
        assert StandardWebhook(admin_secret).verify(r.body, r.headers) is not None
    for r in pub_rx.requests:
        assert StandardWebhook(pub_secret).verify(r.body, r.headers) is not None
    assert {r.headers["webhook-id"] for r in pub_rx.requests} <= {
        message_id(pub_id, c, v) for c, v, _ in expected
    }
    assert {r.json()["type"] for r in pub_rx.requests} >= {"ping.accepted", "call.completed"}
    for r in pub_rx.requests:
        assert not keys_at_any_depth(r.json()) & BUYER_FIELDS, r.json()
        for buyer_id in market.buyers:
            assert buyer_id.encode() not in r.body
    assert len(pixel_rx.requests) == len(pub_rx.requests)
    for r in pixel_rx.requests:
        assert "&r=&" in r.path
        for buyer_id in market.buyers:
            assert buyer_id not in r.path
    assert buyer_rx.requests
    for r in buyer_rx.requests:
        assert market.buyers[1].encode() not in r.body
    for receiver in (admin_rx, pub_rx, buyer_rx):
        for versions in versions_in_arrival_order(receiver).values():
            assert versions == sorted(versions)
    assert {r.json()["data"]["call_id"] for r in admin_rx.requests} == set(calls)


async def test_a_receiver_down_then_up_gets_every_event_in_order(
    domain: Domain,
    market: Market,
    hook_settings: Settings,
    now_clock: ManualClock,
    store: DeliveryStore,
    receivers: list[Receiver],
) -> None:
    rx = receivers[0]
    rx.status = 503
    hook_id, _ = register(domain, Role.ADMIN, None, rx.url)
    every_kind_of_call(market, now_clock)
    await relay(domain, hook_settings)
    expected = {message_id(hook_id, c, v) for c, v, _ in sent_events(domain)}
    running = start(domain, hook_settings, now_clock, store)

    def retried_while_down() -> bool:
        now_clock.advance(timedelta(minutes=1))  # retries come due as time passes
        return len(rx.requests) >= 3 * len({r.headers["webhook-id"] for r in rx.requests})

    try:
        await until(retried_while_down, "three attempts of each delivery while down")
        rx.status = 200

        def all_delivered() -> bool:
            now_clock.advance(timedelta(minutes=1))
            return rx.delivered_ids() == expected

        await until(all_delivered, "every event once the receiver is back")
    finally:
        await running.halt()
    assert rx.delivered_ids() == expected
    assert len(rx.delivered()) == len(expected)
    for versions in versions_in_arrival_order(rx).values():
        assert versions == sorted(versions)
    first = store.get(next(iter(expected)))
    assert first is not None
    assert first.state == "delivered"
    attempts = store.attempts(first.id)
    assert [a.status for a in attempts][-1] == 200
    assert {a.status for a in attempts[:-1]} <= {503}


async def test_a_410_fails_a_delivery_at_once(
    domain: Domain,
    market: Market,
    hook_settings: Settings,
    now_clock: ManualClock,
    store: DeliveryStore,
    receivers: list[Receiver],
) -> None:
    rx = receivers[0]
    rx.status = 410
    hook_id, _ = register(domain, Role.ADMIN, None, rx.url)
    every_kind_of_call(market, now_clock)
    await relay(domain, hook_settings)
    expected = {message_id(hook_id, c, v) for c, v, _ in sent_events(domain)}
    running = start(domain, hook_settings, now_clock, store)
    try:
        await until(
            lambda: (
                {d.id for d in store.of_webhook(hook_id, 100) if d.state == "failed"} == expected
            ),
            "every delivery failed",
        )
    finally:
        await running.halt()
    for delivery_id in expected:
        attempts = store.attempts(delivery_id)
        assert [a.status for a in attempts] == [410]
        delivery = store.get(delivery_id)
        assert delivery is not None
        assert delivery.next_attempt_ms is None
    assert len(rx.requests) == len(expected)


async def test_an_endpoint_failing_for_a_day_is_paused_with_a_reason(
    domain: Domain,
    market: Market,
    hook_settings: Settings,
    now_clock: ManualClock,
    store: DeliveryStore,
    receivers: list[Receiver],
) -> None:
    rx = receivers[0]
    rx.status = 503
    hook_id, _ = register(domain, Role.ADMIN, None, rx.url)
    market.auction([])  # one event: ping.rejected
    await relay(domain, hook_settings)
    started = now_clock.now()
    running = start(domain, hook_settings, now_clock, store)

    def paused() -> bool:
        now_clock.advance(timedelta(minutes=10))
        return bool(running.worker.stats.paused)

    try:
        await until(paused, "the webhook paused")
    finally:
        await running.halt()
    webhook = domain.webhooks.get(hook_id, None)
    assert webhook.paused
    assert running.worker.stats.paused == [hook_id]
    assert now_clock.now() - started >= timedelta(hours=23)
    assert len(rx.requests) > 1
    (delivery,) = store.of_webhook(hook_id, 10)
    assert delivery.state == "failed"
    reasons = [
        state["reason"]
        for _, _, topic, state in (
            (r[0], r[1], r[2], orjson.loads(r[3])) for r in domain.app.store.read_aggregate(hook_id)
        )
        if topic.endswith("Webhook.Paused")
    ]
    assert reasons
    assert reasons[0].startswith("every delivery failed since")


async def test_a_slow_receiver_does_not_delay_another(
    domain: Domain,
    market: Market,
    hook_settings: Settings,
    now_clock: ManualClock,
    store: DeliveryStore,
    receivers: list[Receiver],
) -> None:
    slow, quick = receivers[0], receivers[1]
    slow.gate = asyncio.Event()  # it answers only when the test lets it
    register(domain, Role.ADMIN, None, slow.url)
    quick_id, _ = register(domain, Role.ADMIN, None, quick.url)
    every_kind_of_call(market, now_clock)
    await relay(domain, hook_settings)
    expected = {message_id(quick_id, c, v) for c, v, _ in sent_events(domain)}
    running = start(domain, hook_settings, now_clock, store)
    try:
        await until(lambda: quick.delivered_ids() == expected, "the quick receiver's events")
        assert slow.requests
        assert not slow.gate.is_set()
    finally:
        slow.gate.set()
        await running.halt()


async def test_a_worker_stopped_mid_stream_loses_nothing(
    domain: Domain,
    market: Market,
    hook_settings: Settings,
    now_clock: ManualClock,
    store: DeliveryStore,
    receivers: list[Receiver],
) -> None:
    rx = receivers[0]
    hook_id, _ = register(domain, Role.ADMIN, None, rx.url)
    drive_calls(market, now_clock, 40, seed=5)
    await relay(domain, hook_settings)
    expected = {message_id(hook_id, c, v) for c, v, _ in sent_events(domain)}
    first = start(domain, hook_settings, now_clock, store)
    await until(lambda: len(rx.requests) >= 5, "a few deliveries")
    await first.halt()
    assert len(rx.delivered_ids()) < len(expected)
    drive_calls(market, now_clock, 5, seed=6)  # and more arrives while it is down
    await relay(domain, hook_settings)
    expected = {message_id(hook_id, c, v) for c, v, _ in sent_events(domain)}
    second = start(domain, hook_settings, now_clock, store)
    try:
        await until(lambda: rx.delivered_ids() == expected, "every event after the restart")
    finally:
        await second.halt()
    assert rx.delivered_ids() == expected


async def test_an_event_recorded_twice_is_one_delivery(
    domain: Domain,
    market: Market,
    hook_settings: Settings,
    now_clock: ManualClock,
    store: DeliveryStore,
    receivers: list[Receiver],
) -> None:
    register(domain, Role.ADMIN, None, receivers[0].url)
    call_id = every_kind_of_call(market, now_clock)[0]
    running = start(domain, hook_settings, now_clock, store)  # no stream: it records nothing
    await running.halt()
    version, topic = next(
        (v, t) for _, v, t, _ in domain.app.store.read_aggregate(call_id) if t in SENT_TOPICS
    )
    message = orjson.dumps(
        {"topic": topic, "originator_id": call_id, "originator_version": version}
    )
    assert running.worker.record(message) == 1
    assert running.worker.record(message) == 0


async def test_a_resumed_endpoint_gets_a_fresh_day_before_it_is_paused_again(
    domain: Domain,
    market: Market,
    hook_settings: Settings,
    now_clock: ManualClock,
    store: DeliveryStore,
    receivers: list[Receiver],
) -> None:
    rx = receivers[0]
    rx.status = 503
    hook_id, _ = register(domain, Role.ADMIN, None, rx.url)
    market.auction([])
    await relay(domain, hook_settings)
    running = start(domain, hook_settings, now_clock, store)

    def paused() -> bool:
        now_clock.advance(timedelta(minutes=10))
        return bool(running.worker.stats.paused)

    try:
        await until(paused, "the webhook paused")
    finally:
        await running.halt()
    domain.webhooks.change(ChangeWebhook(hook_id, by="owner", paused=False))
    resumed_at = now_clock.now()
    market.auction([])  # a new event for the resumed endpoint, which still answers 503
    await relay(domain, hook_settings)
    running = start(domain, hook_settings, now_clock, store)

    def failed_again() -> bool:
        now_clock.advance(timedelta(minutes=10))
        attempts = [d.attempts for d in store.of_webhook(hook_id, 10)]
        return max(attempts) > 1 and len(attempts) == 2

    try:
        await until(failed_again, "the new delivery retried")
        assert not domain.webhooks.get(hook_id, None).paused  # hours, not a day, of failing
        assert running.worker.stats.paused == []
        await until(paused, "the webhook paused again")
    finally:
        await running.halt()
    assert now_clock.now() - resumed_at >= timedelta(hours=23)
    assert domain.webhooks.get(hook_id, None).paused
