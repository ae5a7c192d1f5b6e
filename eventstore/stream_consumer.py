"""A durable pull consumer of the events stream the relay fills: the loop the JetStream
readers of the log share (the webhook worker, the scorer, the transcriber).

Connect (to every listed node, reconnecting for ever), wait for the stream (the relay makes
it), bind the durable consumer, then fetch batches and hand each to the reader until `stop`
is set. The reader acknowledges: each decides when a message is done. Here, not in
`webhooks` or `evidence`, because those are siblings and neither may import the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from eventstore.nats_servers import nats_servers

logger = logging.getLogger(__name__)
FETCH_TIMEOUT_S = 1.0
STREAM_WAIT_S = 0.5  # between looks for the events stream, and after NATS failed a fetch


@dataclass(frozen=True)
class StreamSource:
    nats_url: str
    stream: str
    subject_prefix: str


def durable_config(
    durable: str, *, ack_wait_s: float, max_ack_pending: int, **more: Any
) -> ConsumerConfig:
    """A reader's durable consumer: from the stream's first message, each acknowledged on its
    own; `more` is any other `ConsumerConfig` field (a filter subject, a delivery limit)."""
    return ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ack_wait_s,
        max_ack_pending=max_ack_pending,
        **more,
    )


async def consume(
    source: StreamSource,
    config: ConsumerConfig,
    batch: int,
    handle: Callable[[list[Msg]], Awaitable[None]],
    stop: asyncio.Event,
    *,
    name: str,
) -> None:
    """Fetch up to `batch` messages at a time from the durable consumer `config` (of its
    `filter_subject`, or every subject of the stream) and await `handle` on each batch, until
    `stop` is set (a batch fetched meanwhile is handed back at once, not after the ack wait);
    `name` is the reader's, in the log lines."""
    connection = await nats.connect(
        nats_servers(source.nats_url),
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=2,
    )
    try:
        subscription = await _subscribe(connection.jetstream(), source, config, stop)
        while subscription is not None and not stop.is_set():
            try:
                messages = await subscription.fetch(batch, timeout=FETCH_TIMEOUT_S)
            except TimeoutError:
                continue
            except nats.errors.Error as error:
                logger.warning("%s: NATS unavailable (%s)", name, type(error).__name__)
                await wait_or_stop(stop, STREAM_WAIT_S)
                continue
            if stop.is_set():
                for message in messages:
                    await message.nak()
                break
            await handle(messages)
    finally:
        await connection.close()


async def _subscribe(
    js: JetStreamContext, source: StreamSource, config: ConsumerConfig, stop: asyncio.Event
) -> JetStreamContext.PullSubscription | None:
    subject = config.filter_subject or f"{source.subject_prefix}.>"
    while not stop.is_set():
        try:
            await js.stream_info(source.stream)
        except NotFoundError:
            await wait_or_stop(stop, STREAM_WAIT_S)  # the relay has not made it yet
            continue
        subscription: JetStreamContext.PullSubscription = await js.pull_subscribe(
            subject, durable=config.durable_name, stream=source.stream, config=config
        )
        return subscription
    return None


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less when `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
