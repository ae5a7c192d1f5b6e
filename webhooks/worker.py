"""The delivery worker (`ppcx webhooks`): call events from JetStream → deliveries → HTTP.

* **Recording**: a durable pull consumer (`ppcx-webhooks`, explicit acks) reads the events
  stream. For an event of `SENT_FOR` it builds each subscriber's body from the call's stored
  events and records the deliveries, *then* acknowledges the message: a worker that dies before
  the record gets the message again; after it, the record is there (and a second record of
  the same delivery id is none). The call's earlier events not recorded yet are recorded with
  it: a killed worker's unacknowledged messages come back only after `ACK_WAIT_S`, behind
  later ones. A webhook's own event makes the subscriber cache stale.
* **Sending**: a loop picks the due deliveries (in order per call per endpoint: the store
  offers a call's next delivery only once the one before is delivered or failed), at most
  `PER_ENDPOINT` at a time to one webhook (a slow endpoint holds only its own slots), and
  records each attempt with its outcome and the next attempt's time. An endpoint failing for
  `PAUSE_AFTER` is paused with a reason, through the handlers.

Times come from the injected clock; the loop's polling alone uses the event loop's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import httpx
import nats
import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from domain.clock import Clock
from eventstore.application import PPCXApplication
from eventstore.deliveries import DeliveryRow, DeliveryStore
from handlers.webhooks import WebhookHandlers
from webhooks.deliveries import (
    AttemptResult,
    DeliveryState,
    after_attempt,
    from_ms,
    planned_through,
    stored_events,
    to_ms,
)
from webhooks.outbound import Network
from webhooks.payloads import SENT_TOPICS
from webhooks.retry import PAUSE_AFTER, AttemptError, Outcome, classify
from webhooks.sender import Endpoint, send
from webhooks.subscribers import WEBHOOK_TOPIC_PREFIX, Subscriber, Subscribers

logger = logging.getLogger(__name__)
DURABLE = "ppcx-webhooks"
FETCH_EVENTS = 100
FETCH_TIMEOUT_S = 1.0
ACK_WAIT_S = 30.0
MAX_ACK_PENDING = 1_000
STREAM_WAIT_S = 0.5  # between looks for the events stream (the relay makes it)
PER_ENDPOINT = 4  # deliveries in flight to one webhook, at most
IN_FLIGHT_MAX = 256  # deliveries in flight in all
DUE_BATCH = 100
SEND_POLL_S = 0.05
PAUSED_BY = "webhooks"


@dataclass(frozen=True)
class StreamSource:
    nats_url: str
    stream: str
    subject_prefix: str


@dataclass
class WorkerStats:
    messages: int = 0
    recorded: int = 0
    attempts: int = 0
    paused: list[str] = field(default_factory=list)


class DeliveryWorker:
    def __init__(
        self,
        app: PPCXApplication,
        handlers: WebhookHandlers,
        store: DeliveryStore,
        clock: Clock,
        allowed: tuple[Network, ...],
        secret_of: Callable[[str, int], str],
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.app = app
        self.handlers = handlers
        self.store = store
        self.clock = clock
        self.allowed = allowed
        self.secret_of = secret_of
        self.rng = rng or random.Random()
        self.subscribers = Subscribers(app)
        self.stats = WorkerStats()
        self._in_flight: dict[str, str] = {}  # delivery id -> webhook id
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._wake = asyncio.Event()

    async def run(self, source: StreamSource, stop: asyncio.Event) -> None:
        """Record and send until `stop` is set."""
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
            await asyncio.gather(self.consume(source, stop), self.send(client, stop))

    # -- recording ---------------------------------------------------------------------------

    async def consume(self, source: StreamSource, stop: asyncio.Event) -> None:
        connection = await nats.connect(
            source.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5, connect_timeout=2
        )
        try:
            subscription = await self._subscribe(connection, source, stop)
            while subscription is not None and not stop.is_set():
                try:
                    messages = await subscription.fetch(FETCH_EVENTS, timeout=FETCH_TIMEOUT_S)
                except TimeoutError:
                    continue
                except nats.errors.Error as error:
                    logger.warning("webhooks: NATS unavailable (%s)", type(error).__name__)
                    await _wait(stop, STREAM_WAIT_S)
                    continue
                await self._handle_all(messages, stop)
        finally:
            await connection.close()

    async def _subscribe(
        self, connection: NATS, source: StreamSource, stop: asyncio.Event
    ) -> JetStreamContext.PullSubscription | None:
        js = connection.jetstream()
        while not stop.is_set():
            try:
                await js.stream_info(source.stream)
            except NotFoundError:
                await _wait(stop, STREAM_WAIT_S)  # the relay has not made it yet
                continue
            subscription: JetStreamContext.PullSubscription = await js.pull_subscribe(
                f"{source.subject_prefix}.>",
                durable=DURABLE,
                stream=source.stream,
                config=ConsumerConfig(
                    durable_name=DURABLE,
                    ack_policy=AckPolicy.EXPLICIT,
                    deliver_policy=DeliverPolicy.ALL,
                    ack_wait=ACK_WAIT_S,
                    max_ack_pending=MAX_ACK_PENDING,
                ),
            )
            return subscription
        return None

    async def _handle_all(self, messages: list[Msg], stop: asyncio.Event) -> None:
        for n, message in enumerate(messages):
            if stop.is_set():  # the rest are handed back at once, not after ACK_WAIT_S
                for rest in messages[n:]:
                    await rest.nak()
                return
            recorded = await asyncio.to_thread(self.record, message.data)
            await message.ack()
            self.stats.messages += 1
            if recorded:
                self.stats.recorded += recorded
                self._wake.set()

    def record(self, data: bytes) -> int:
        """Record the deliveries of one stream message → how many were new."""
        event = orjson.loads(data)
        topic = event["topic"]
        if topic.startswith(WEBHOOK_TOPIC_PREFIX):
            self.subscribers.stale()
            return 0
        if topic not in SENT_TOPICS:
            return 0
        call_id = event["originator_id"]
        events = stored_events(self.app.store.read_aggregate(call_id))
        rows = planned_through(
            self.subscribers,
            call_id,
            event["originator_version"],
            events,
            self.clock.now(),
            self.store.recorded,
        )
        return self.store.add(rows) if rows else 0

    # -- sending -----------------------------------------------------------------------------

    async def send(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        tasks: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                self._wake.clear()
                for delivery in await asyncio.to_thread(self._due):
                    self._in_flight[delivery.id] = delivery.webhook_id
                    task = asyncio.create_task(self._deliver(client, delivery))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(self._wake, stop), SEND_POLL_S)
        finally:
            for task in tasks:
                task.cancel()  # unrecorded: still pending, sent again by the next worker
            await asyncio.gather(*tasks, return_exceptions=True)

    def _due(self) -> list[DeliveryRow]:
        room = IN_FLIGHT_MAX - len(self._in_flight)
        if room <= 0:
            return []
        per_webhook: dict[str, int] = {}
        for webhook_id in self._in_flight.values():
            per_webhook[webhook_id] = per_webhook.get(webhook_id, 0) + 1
        skipped = [w for w, n in per_webhook.items() if n >= PER_ENDPOINT]
        skipped += [s.webhook_id for s in self.subscribers.all() if not s.active]
        return self.store.due(
            to_ms(self.clock.now()),
            min(room, DUE_BATCH),
            skip_webhooks=skipped,
            skip_ids=list(self._in_flight),
        )

    async def _deliver(self, client: httpx.AsyncClient, delivery: DeliveryRow) -> None:
        try:
            slot = self._slots.setdefault(delivery.webhook_id, asyncio.Semaphore(PER_ENDPOINT))
            async with slot:
                subscriber = await asyncio.to_thread(self.subscribers.get, delivery.webhook_id)
                if subscriber is None:
                    result = AttemptResult(AttemptError.CONNECTION, 0, b"", refused="removed")
                elif not subscriber.active:
                    return  # paused meanwhile: it waits, pending
                else:
                    result = await self._attempt(client, subscriber, delivery)
            await asyncio.to_thread(self._recorded, delivery, result)
        except Exception:
            logger.exception("webhooks: delivery %s failed unexpectedly", delivery.id)
        finally:
            del self._in_flight[delivery.id]
            self._wake.set()

    async def _attempt(
        self, client: httpx.AsyncClient, subscriber: Subscriber, delivery: DeliveryRow
    ) -> AttemptResult:
        secret = self.secret_of(subscriber.webhook_id, subscriber.secret_version)
        endpoint = Endpoint(subscriber.method, subscriber.url, subscriber.role, secret)
        return await send(client, endpoint, delivery, self.clock.now(), self.allowed)

    def _recorded(self, delivery: DeliveryRow, result: AttemptResult) -> None:
        now = self.clock.now()
        row, state, next_ms = after_attempt(delivery, result, now, self.rng)
        self.store.record_attempt(delivery, row, state, next_ms)
        self.stats.attempts += 1
        if state is not DeliveryState.DELIVERED:
            # a delivery that ran out of retries has failed for PAUSE_AFTER (or for
            # WEBHOOK_ATTEMPTS_MAX attempts): its endpoint is paused even if its span of
            # failures falls just short
            gave_up = state is DeliveryState.FAILED and (
                result.refused is None and classify(result.result) is Outcome.RETRY
            )
            self._pause_if_failing(delivery.webhook_id, now, gave_up=gave_up)

    def _pause_if_failing(self, webhook_id: str, now: datetime, *, gave_up: bool) -> None:
        since_ms = self.store.failing_since_ms(webhook_id)
        if since_ms is None:
            return
        since = from_ms(since_ms)
        subscriber = self.subscribers.get(webhook_id)
        resumed_at = subscriber.resumed_at if subscriber is not None else None
        if resumed_at is not None and since < resumed_at:
            since = resumed_at  # resumed by its owner: a fresh day to fail in
            gave_up = False  # a delivery given up on since was begun before the resume
        if not gave_up and now - since < PAUSE_AFTER:
            return
        reason = f"every delivery failed since {since.isoformat()}"
        if self.handlers.pause_failing(webhook_id, reason, by=PAUSED_BY):
            self.stats.paused.append(webhook_id)
            logger.warning("webhooks: paused %s: %s", webhook_id, reason)
        self.subscribers.stale()


async def _first(wake: asyncio.Event, stop: asyncio.Event) -> None:
    """Until either is set."""
    waits = [asyncio.create_task(wake.wait()), asyncio.create_task(stop.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
