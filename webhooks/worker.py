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
  records each attempt with its outcome and the next attempt's time (the attempts that finished
  together in one transaction). An endpoint failing for `PAUSE_AFTER` is paused with a
  reason, through the handlers.
* **Where the store is called**: the sender's store calls (the due query, the attempts of a
  batch in one transaction, without a sync to disk) take a fraction of a millisecond and run on
  the event loop: handed to a thread they cost more than they do, each waiting for the GIL
  while the loop is busy (measured: 1.4 ms vs 0.12 ms per due query; `ppcx-tools bench
  webhooks`). Recording a fetch (reads of the log, a sync to disk) and pausing (writes the
  log) run in a thread.

Times come from the injected clock; the loop's polling alone uses the event loop's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import httpx
import orjson
from nats.aio.msg import Msg

from domain.clock import Clock
from eventstore.application import PPCXApplication
from eventstore.deliveries import DeliveryRow, DeliveryStore
from eventstore.stream_consumer import StreamSource, consume, durable_config
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
ACK_WAIT_S = 30.0
MAX_ACK_PENDING = 1_000
PER_ENDPOINT = 4  # deliveries in flight to one webhook, at most
IN_FLIGHT_MAX = 256  # deliveries in flight in all
DUE_BATCH = 100
SEND_POLL_S = 0.05
PAUSED_BY = "webhooks"


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
        self._results: list[tuple[DeliveryRow, AttemptResult]] = []  # attempts to record
        self._results_ready = asyncio.Event()

    async def run(self, source: StreamSource, stop: asyncio.Event) -> None:
        """Record and send until `stop` is set."""
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
            await asyncio.gather(self.consume(source, stop), self.send(client, stop))

    # -- recording ---------------------------------------------------------------------------

    async def consume(self, source: StreamSource, stop: asyncio.Event) -> None:
        config = durable_config(DURABLE, ack_wait_s=ACK_WAIT_S, max_ack_pending=MAX_ACK_PENDING)
        await consume(
            source,
            config,
            FETCH_EVENTS,
            self._handle_all,
            stop,
            name="webhooks",
        )

    async def _handle_all(self, messages: list[Msg]) -> None:
        # one transaction (one sync to disk) for the whole fetch, then the acks
        recorded = await asyncio.to_thread(self.record_all, [m.data for m in messages])
        for message in messages:
            await message.ack()
        self.stats.messages += len(messages)
        if recorded:
            self.stats.recorded += recorded
            self._wake.set()

    def record(self, data: bytes) -> int:
        """Record the deliveries of one stream message → how many were new."""
        return self.record_all([data])

    def record_all(self, messages: Sequence[bytes]) -> int:
        """Record the deliveries of stream messages → how many were new. A call's messages
        are planned once, through the latest of its versions here."""
        through: dict[str, int] = {}
        for data in messages:
            event = orjson.loads(data)
            topic = event["topic"]
            if topic.startswith(WEBHOOK_TOPIC_PREFIX):
                self.subscribers.stale()
            elif topic in SENT_TOPICS:
                call_id = event["originator_id"]
                through[call_id] = max(through.get(call_id, 0), event["originator_version"])
        rows: list[DeliveryRow] = []
        now = self.clock.now()
        for call_id, version in through.items():
            events = stored_events(self.app.store.read_aggregate(call_id))
            rows += planned_through(
                self.subscribers, call_id, version, events, now, self.store.recorded
            )
        return self.store.add(rows) if rows else 0

    # -- sending -----------------------------------------------------------------------------

    async def send(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        tasks: set[asyncio.Task[None]] = set()
        recorder = asyncio.create_task(self._record_results(stop))
        try:
            while not stop.is_set():
                self._wake.clear()
                if not self.subscribers.is_fresh():
                    await asyncio.to_thread(self.subscribers.all)  # reads the store
                for delivery in self._due():
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
            await recorder
            await self._flush()  # the attempts that were made are recorded

    def _due(self) -> list[DeliveryRow]:
        room = IN_FLIGHT_MAX - len(self._in_flight)
        if room <= 0:
            return []
        per_webhook: dict[str, int] = {}
        for webhook_id in self._in_flight.values():
            per_webhook[webhook_id] = per_webhook.get(webhook_id, 0) + 1
        skipped = {w for w, n in per_webhook.items() if n >= PER_ENDPOINT}
        subscribers = self.subscribers.all()
        skipped |= {s.webhook_id for s in subscribers if not s.active}
        if all(s.webhook_id in skipped for s in subscribers):
            return []  # each is paused or has its slots taken (a removed one's wait too)
        return self.store.due(
            to_ms(self.clock.now()),
            min(room, DUE_BATCH),
            skip_webhooks=sorted(skipped),
            skip_ids=list(self._in_flight),
        )

    async def _deliver(self, client: httpx.AsyncClient, delivery: DeliveryRow) -> None:
        try:
            slot = self._slots.setdefault(delivery.webhook_id, asyncio.Semaphore(PER_ENDPOINT))
            async with slot:
                fresh, subscriber = self.subscribers.cached(delivery.webhook_id)
                if not fresh:
                    subscriber = await asyncio.to_thread(self.subscribers.get, delivery.webhook_id)
                if subscriber is None:
                    result = AttemptResult(AttemptError.CONNECTION, 0, b"", refused="removed")
                elif not subscriber.active:
                    self._done(delivery)
                    return  # paused meanwhile: it waits, pending
                else:
                    result = await self._attempt(client, subscriber, delivery)
        except Exception:
            logger.exception("webhooks: delivery %s failed unexpectedly", delivery.id)
            self._done(delivery)
            return
        except BaseException:
            self._done(delivery)
            raise
        # in flight until its attempt is recorded (else `_due` would offer it again)
        self._results.append((delivery, result))
        self._results_ready.set()

    def _done(self, delivery: DeliveryRow) -> None:
        self._in_flight.pop(delivery.id, None)
        self._wake.set()

    async def _record_results(self, stop: asyncio.Event) -> None:
        """Record the attempts made, as many as have finished in one transaction."""
        while not stop.is_set():
            await _first(self._results_ready, stop)
            await self._flush()

    async def _flush(self) -> None:
        self._results_ready.clear()
        results, self._results = self._results, []
        if not results:
            return
        try:
            now = self.clock.now()
            failing = self._recorded(results, now)
            if failing:  # may write the log: off the loop
                await asyncio.to_thread(self._pause_failing, failing, now)
        except Exception:  # not recorded: still pending, they go again
            logger.exception("webhooks: %d attempts not recorded", len(results))
        for delivery, _ in results:
            self._done(delivery)

    async def _attempt(
        self, client: httpx.AsyncClient, subscriber: Subscriber, delivery: DeliveryRow
    ) -> AttemptResult:
        secret = self.secret_of(subscriber.webhook_id, subscriber.secret_version)
        endpoint = Endpoint(subscriber.method, subscriber.url, subscriber.role, secret)
        return await send(client, endpoint, delivery, self.clock.now(), self.allowed)

    def _recorded(
        self, results: Sequence[tuple[DeliveryRow, AttemptResult]], now: datetime
    ) -> dict[str, datetime | None]:
        """Record the attempts → the webhooks whose deliveries failed, each with the first
        attempt of the latest begun delivery to it that was given up on (None: none was)."""
        records = []
        failing: dict[str, datetime | None] = {}
        for delivery, result in results:
            row, state, next_ms = after_attempt(delivery, result, now, self.rng)
            records.append((delivery, row, state, next_ms))
            if state is DeliveryState.DELIVERED:
                continue
            # a delivery that ran out of retries has failed for PAUSE_AFTER (or for
            # WEBHOOK_ATTEMPTS_MAX attempts): its endpoint is paused even if its span of
            # failures falls just short
            gave_up = state is DeliveryState.FAILED and (
                result.refused is None and classify(result.result) is Outcome.RETRY
            )
            begun = from_ms(delivery.first_attempt_ms or row.at_ms) if gave_up else None
            known = failing.get(delivery.webhook_id)
            latest = begun is not None and (known is None or begun > known)
            failing[delivery.webhook_id] = begun if latest else known
        self.store.record_attempts(records)
        self.stats.attempts += len(records)
        return failing

    def _pause_failing(self, failing: dict[str, datetime | None], now: datetime) -> None:
        for webhook_id, gave_up_begun in failing.items():
            self._pause_if_failing(webhook_id, now, gave_up_begun=gave_up_begun)

    def _pause_if_failing(
        self, webhook_id: str, now: datetime, *, gave_up_begun: datetime | None
    ) -> None:
        since_ms = self.store.failing_since_ms(webhook_id)
        if since_ms is None:
            return
        since = from_ms(since_ms)
        subscriber = self.subscribers.get(webhook_id)
        resumed_at = subscriber.resumed_at if subscriber is not None else None
        gave_up = gave_up_begun is not None
        if resumed_at is not None and since < resumed_at:
            since = resumed_at  # resumed by its owner: a fresh day to fail in
            # only a delivery begun after the resume has failed for the whole fresh span
            gave_up = gave_up_begun is not None and gave_up_begun >= resumed_at
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
