"""The relay: the event log → NATS JetStream, exactly once.

It reads the notification log from its durably tracked position (`eventstore.store.Positions`:
the eventsourcing library's tracking table, in the same store) and publishes each event to the
stream (`PPCX_EVENTS` by default) on `<prefix>.<Aggregate>.<Event>`, with `Nats-Msg-Id` = the
notification id, so a restart or a retry is de-duplicated by JetStream (its duplicate window is
set to `DUPLICATE_WINDOW_S`, longer than any restart the relay should take). The position advances
only after JetStream acknowledged every message up to it. With NATS down, the relay waits and
retries the same messages; nothing is lost and the API never depends on it.

Messages are published in notification order on one connection, which JetStream stores in that
order; the projector relies on it. Every `checkpoint_interval_s` the relay writes a signed
checkpoint of the head it reached (`projections.checkpoints`), outside the store. Each message
carries the event's audit-chain link (`Ppcx-Chain`), so the stream is an independent copy
against which the log can be checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import nats
import orjson
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from domain.invariant import invariant, present
from eventstore.nats_servers import nats_servers
from eventstore.store import Positions
from projections.checkpoints import CHECKPOINT_INTERVAL_S, Checkpoints

logger = logging.getLogger(__name__)
SCHEMA_VERSION = 1
RELAY_NAME = "ppcx-relay"
DUPLICATE_WINDOW_S = 24 * 3600
PAGE_EVENTS = 5000
ACK_TIMEOUT_S = 10.0
RETRY_BACKOFF_S_MAX = 5.0
POLL_INTERVAL_S = 0.2

ChainedRow = tuple[int, str | None, int | None, str | None, bytes | None, bytes | None]


@dataclass
class RelayStats:
    published: int = 0
    duplicates: int = 0
    position: int = 0
    retries: int = 0
    checkpoints: int = 0


def subject_for(prefix: str, topic: str) -> str:
    """ "domain.call:Call.BidReceived" → "<prefix>.Call.BidReceived"."""
    return f"{prefix}.{topic.rpartition(':')[2]}"


def message(row: ChainedRow) -> bytes:
    notification_id, originator_id, version, topic, state, link = row
    topic = present(topic, f"event {notification_id} has a topic")
    state = present(state, f"event {notification_id} has a state")
    return orjson.dumps(
        {
            "schema": SCHEMA_VERSION,
            "id": notification_id,
            "topic": topic,
            "originator_id": originator_id,
            "originator_version": version,
            "chain": link.hex() if link else None,
            "state": orjson.Fragment(state),
        }
    )


async def connect_nats(url: str, role: str) -> NATS:
    """A connection that reconnects forever and reports its state to the log (nats-py
    would otherwise print tracebacks for every refused reconnect)."""

    async def on_error(error: Exception) -> None:
        logger.warning("%s: NATS connection error: %s", role, error)

    async def on_disconnected() -> None:
        logger.warning("%s: disconnected from NATS", role)

    async def on_reconnected() -> None:
        logger.info("%s: reconnected to NATS", role)

    return await nats.connect(
        nats_servers(url),
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=2,
        allow_reconnect=True,
        error_cb=on_error,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
    )


async def ensure_stream(
    js: JetStreamContext, stream: str, subject_prefix: str, *, replicas: int = 1
) -> None:
    """Create the events stream when missing, with `replicas` copies (3 on a three-node
    NATS cluster: it survives a node); an existing stream keeps the replicas it has."""
    subjects = [f"{subject_prefix}.>"]
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        await js.add_stream(
            StreamConfig(
                name=stream,
                subjects=subjects,
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_S,
                num_replicas=replicas,
            )
        )
        return
    if info.config.subjects != subjects:
        raise RuntimeError(
            f"stream {stream} exists with subjects {info.config.subjects}, not {subjects}"
        )
    warn_replicas(stream, info.config.num_replicas, replicas)


def warn_replicas(stream: str, found: int | None, wanted: int) -> None:
    """A stream made before the replicas setting changed is left as it is (changing it is
    the operator's `nats stream edit --replicas`), and said so."""
    if (found or 1) != wanted:
        logger.warning(
            "stream %s has %s replicas, not the %s configured; left as it is",
            stream,
            found or 1,
            wanted,
        )


class Relay:
    def __init__(
        self,
        read_chained: Callable[[int, int], list[ChainedRow]],
        positions: Positions,
        *,
        nats_url: str,
        stream: str,
        subject_prefix: str,
        page_events: int = PAGE_EVENTS,
        checkpoints: Checkpoints | None = None,
        checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S,
        replicas: int = 1,
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        invariant(0 < page_events <= PAGE_EVENTS, "a page is bounded by the pending limit")
        self.checkpoints = checkpoints
        self.checkpoint_interval_s = checkpoint_interval_s
        self._monotonic_s = monotonic_s
        self._checkpointed: tuple[float, int] | None = None  # (when, position) of the last
        self._head_link: bytes | None = None  # the link of the last event published
        self.page_events = page_events
        self.read_chained = read_chained
        self.positions = positions
        self.nats_url = nats_url
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.replicas = replicas
        self.stats = RelayStats()

    def position(self) -> int:
        return self.positions.position(RELAY_NAME)

    async def _connect(self) -> NATS:
        return await nats.connect(
            nats_servers(self.nats_url),
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=2,
            allow_reconnect=True,
        )

    async def run(
        self,
        *,
        follow: bool,
        stop: asyncio.Event | None = None,
        on_progress: Callable[[RelayStats], None] | None = None,
    ) -> RelayStats:
        """Publish everything after the tracked position; with `follow`, keep going until
        `stop` is set."""
        stop = stop or asyncio.Event()
        self.stats.position = self.position()
        connection: NATS | None = None
        js: JetStreamContext | None = None
        backoff = 0.1
        try:
            while not stop.is_set():
                try:
                    if connection is None or connection.is_closed:
                        connection = await self._connect()
                        js = None
                    if js is None:  # one context: each subscribes a reply inbox of its own
                        js = connection.jetstream(publish_async_max_pending=self.page_events)
                        await ensure_stream(
                            js, self.stream, self.subject_prefix, replicas=self.replicas
                        )
                    rows = await asyncio.to_thread(
                        self.read_chained, self.stats.position + 1, self.page_events
                    )
                    if not rows:
                        await self._checkpoint(js, final=not follow)
                        if not follow:
                            break
                        await _wait(stop, POLL_INTERVAL_S)
                        continue
                    await self._publish(js, rows)
                    await self._checkpoint(js, final=False)
                    backoff = 0.1
                    if on_progress is not None:
                        on_progress(self.stats)
                except (nats.errors.Error, TimeoutError, OSError) as error:
                    js = None  # acknowledgements that never came stay with the old context
                    self.stats.retries += 1
                    logger.warning(
                        "relay: NATS unavailable (%s); retrying in %.1f s",
                        type(error).__name__,
                        backoff,
                    )
                    await _wait(stop, backoff)
                    backoff = min(backoff * 2, RETRY_BACKOFF_S_MAX)
        finally:
            if connection is not None and not connection.is_closed:
                await connection.close()
        return self.stats

    async def _publish(self, js: JetStreamContext, rows: list[ChainedRow]) -> None:
        """Publish a page pipelined (publish_async), wait for every acknowledgement, then
        move the position past it."""
        for row in rows:
            if row[4] is None:  # a link without its event: replay's business, not the relay's
                raise RuntimeError(f"notification {row[0]} has no stored event")
        futures = [
            await js.publish_async(
                subject_for(self.subject_prefix, row[3] or ""),
                message(row),
                # no stall timeout: its timer would yield to the loop on every message and
                # make nats-py send them one by one; the semaphore is sized to a page
                wait_stall=None,
                stream=self.stream,
                headers={"Nats-Msg-Id": str(row[0])},
            )
            for row in rows
        ]
        acks = await asyncio.wait_for(asyncio.gather(*futures), timeout=ACK_TIMEOUT_S)
        duplicates = sum(1 for ack in acks if ack.duplicate)
        last = rows[-1][0]
        await asyncio.to_thread(self.positions.advance, RELAY_NAME, last)
        self.stats.published += len(rows) - duplicates
        self.stats.duplicates += duplicates
        self.stats.position = last
        self._head_link = rows[-1][5]

    async def _checkpoint(self, js: JetStreamContext, *, final: bool) -> None:
        """A signed checkpoint of the head relayed so far, every `checkpoint_interval_s`
        (and when a one-off run ends), when the head moved since the last one."""
        if self.checkpoints is None or self._head_link is None:
            return
        now = self._monotonic_s()
        last = self._checkpointed
        if last is not None and last[1] == self.stats.position:
            return
        if not final and last is not None and now - last[0] < self.checkpoint_interval_s:
            return
        await self.checkpoints.save(js, self.stats.position, self._head_link)
        self._checkpointed = (now, self.stats.position)
        self.stats.checkpoints += 1


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
