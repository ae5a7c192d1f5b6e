"""Where the relay's signed checkpoints go, and where `replay verify` finds them: the data
dir's `checkpoint.json` and the JetStream stream `<stream>_CHECKPOINTS` (see
`eventstore.checkpoints` for what a checkpoint is and why).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import nats
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from domain.clock import Clock, SystemClock
from eventstore.checkpoints import Checkpoint, sign, write_file
from eventstore.nats_servers import nats_servers, nats_where

logger = logging.getLogger(__name__)
CHECKPOINT_INTERVAL_S = 10.0
CHECKPOINTS_KEPT_MAX = 10_000  # in the stream; the newest is what verify reads
NEWEST_TIMEOUT_S = 2.0


def stream_name(events_stream: str) -> str:
    return f"{events_stream}_CHECKPOINTS"


def subject_name(events_subject_prefix: str) -> str:
    """Beside the events' subjects, never under them ("ppcx.events" → "ppcx.checkpoints")."""
    parent, _, _ = events_subject_prefix.rpartition(".")
    return f"{parent}.checkpoints" if parent else "checkpoints"


async def ensure_checkpoint_stream(
    js: JetStreamContext, stream: str, subject: str, *, replicas: int = 1
) -> None:
    try:
        await js.stream_info(stream)
    except NotFoundError:
        await js.add_stream(
            StreamConfig(
                name=stream,
                subjects=[subject],
                storage=StorageType.FILE,
                max_msgs=CHECKPOINTS_KEPT_MAX,
                num_replicas=replicas,
            )
        )


@dataclass
class Checkpoints:
    """What the relay needs to write checkpoints: the key, the data dir, the stream."""

    key: bytes
    data_dir: Path
    events_stream: str
    events_subject_prefix: str
    clock: Clock = SystemClock()  # noqa: RUF009 - a stateless default
    replicas: int = 1  # of the checkpoints' stream, when this creates it

    async def save(self, js: JetStreamContext, position: int, link: bytes) -> Checkpoint:
        """Sign the head the relay reached, write it to the data dir, publish it."""
        checkpoint = sign(self.key, position, link, self.clock.now())
        await asyncio.to_thread(write_file, self.data_dir, checkpoint)
        stream = stream_name(self.events_stream)
        subject = subject_name(self.events_subject_prefix)
        await ensure_checkpoint_stream(js, stream, subject, replicas=self.replicas)
        await js.publish(subject, checkpoint.to_json(), stream=stream)
        return checkpoint


async def newest_published(
    nats_url: str, events_stream: str, events_subject_prefix: str
) -> Checkpoint | None:
    """The newest checkpoint in JetStream; None when there is none or NATS does not answer
    within `NEWEST_TIMEOUT_S` (ValueError when the message is not a checkpoint)."""

    async def quiet(error: Exception) -> None:  # the caller hears of it: None
        return None

    try:
        connection = await asyncio.wait_for(
            nats.connect(
                nats_servers(nats_url),
                connect_timeout=NEWEST_TIMEOUT_S,
                max_reconnect_attempts=0,
                allow_reconnect=False,
                error_cb=quiet,
            ),
            NEWEST_TIMEOUT_S,
        )
    except (TimeoutError, OSError, nats.errors.Error):
        logger.warning("checkpoints: NATS at %s does not answer", nats_where(nats_url))
        return None
    try:
        js = connection.jetstream()
        try:
            found = await asyncio.wait_for(
                js.get_last_msg(stream_name(events_stream), subject_name(events_subject_prefix)),
                NEWEST_TIMEOUT_S,
            )
        except (NotFoundError, TimeoutError, nats.errors.Error):
            return None
        return Checkpoint.from_json(found.data or b"")
    finally:
        with contextlib.suppress(Exception):
            await connection.close()
