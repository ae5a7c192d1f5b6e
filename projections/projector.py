"""The projector: events → DuckDB, in batches, exactly once.

Two sources give identical tables:

* **log** (embedded mode): reads the notification log directly from the stored position;
* **nats**: a durable JetStream pull consumer (`ppcx-projector`, ack-all); a batch is
  acknowledged only after its DuckDB transaction committed, and a redelivered message whose
  notification id is at or below the stored position changes nothing. The consumer belongs to
  one DuckDB file: where several hosts take turns projecting (`eventstore.leader`), each has a
  durable of its own (`durable_for`), so its acknowledgements always match its own tables and
  a host that leads again resumes where *it* stopped.

A projector killed mid-batch loses the uncommitted transaction and resumes from the position
of the last committed one: no duplicate, no gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import nats
import pyarrow as pa
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from eventstore.nats_servers import nats_servers
from projections.relay import ChainedRow, ensure_stream
from projections.store import ProjectionStore, stage_rows

logger = logging.getLogger(__name__)
BATCH_EVENTS = 40_000  # ~16 MB staged; larger batches stop paying off
DURABLE = "ppcx-projector"
# a host's own consumer left idle this long (the host gone, or standing by all along) is
# removed by JetStream; should that host lead again, it reads the stream from its start and
# skips what its tables hold
HOST_DURABLE_INACTIVE_S = 7 * 24 * 3600.0


def durable_for(host: str, duckdb_path: str) -> str:
    """The durable consumer of one host's DuckDB file ("ppcx-projector-<digest>")."""
    digest = hashlib.sha256(f"{host}\0{duckdb_path}".encode()).hexdigest()[:12]
    return f"{DURABLE}-{digest}"


FETCH_TIMEOUT_S = 1.0
POLL_INTERVAL_S = 0.2
ACK_WAIT_S = 300.0


@dataclass
class ProjectorStats:
    events: int = 0
    batches: int = 0
    position: int = 0


class Projector:
    def __init__(self, store: ProjectionStore) -> None:
        self.store = store
        self.stats = ProjectorStats(position=store.position())

    def _count(self, events: int) -> None:
        self.stats.events += events
        self.stats.batches += 1
        self.stats.position = self.store.position()

    def run_from_log(
        self,
        select_chained: Callable[[int, int], list[ChainedRow]],
        *,
        batch_events: int = BATCH_EVENTS,
        on_progress: Callable[[ProjectorStats], None] | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> ProjectorStats:
        """Project everything after the stored position (one pass; `follow` loops call it).
        The next batch is read and staged in a thread while DuckDB (which releases the GIL)
        ingests the current one."""

        def read(start: int) -> tuple[pa.Table, int] | None:
            rows = select_chained(start, batch_events)
            return (stage_rows(rows), rows[-1][0]) if rows else None

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="projector-read") as reader:
            ahead = reader.submit(read, self.store.position() + 1)
            while not stop():
                batch = ahead.result()
                if batch is None:
                    break
                staged, last_id = batch
                ahead = reader.submit(read, last_id + 1)
                self._count(self.store.apply_staged(staged, last_id))
                self.store.publish_snapshot()
                if on_progress is not None:
                    on_progress(self.stats)
            ahead.cancel()
        return self.stats

    async def run_from_nats(
        self,
        nats_url: str,
        stream: str,
        subject_prefix: str,
        *,
        follow: bool,
        batch_events: int = BATCH_EVENTS,
        stop: asyncio.Event | None = None,
        on_progress: Callable[[ProjectorStats], None] | None = None,
        replicas: int = 1,
        durable: str = DURABLE,
    ) -> ProjectorStats:
        stop = stop or asyncio.Event()
        connection = await nats.connect(
            nats_servers(nats_url),
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=2,
        )
        try:
            js = connection.jetstream()
            await ensure_stream(js, stream, subject_prefix, replicas=replicas)
            if self.store.position() == 0:
                # empty tables (new, or rebuilt for a new schema) read the stream from its
                # start, whatever an earlier consumer acknowledged
                with contextlib.suppress(NotFoundError):
                    await js.delete_consumer(stream, durable)
            subscription = await js.pull_subscribe(
                f"{subject_prefix}.>",
                durable=durable,
                stream=stream,
                config=ConsumerConfig(
                    durable_name=durable,
                    ack_policy=AckPolicy.ALL,
                    deliver_policy=DeliverPolicy.ALL,
                    ack_wait=ACK_WAIT_S,
                    max_ack_pending=batch_events * 4,
                    inactive_threshold=None if durable == DURABLE else HOST_DURABLE_INACTIVE_S,
                ),
            )

            async def fetch() -> list[Msg] | None:
                try:
                    return await subscription.fetch(batch_events, timeout=FETCH_TIMEOUT_S)
                except TimeoutError:
                    return []
                except nats.errors.Error as error:
                    logger.warning("projector: NATS unavailable (%s)", type(error).__name__)
                    await asyncio.sleep(POLL_INTERVAL_S)
                    return None

            # the next batch is fetched while DuckDB (off the event loop) ingests this one;
            # a batch is acknowledged (ack-all) only once its transaction committed
            ahead = asyncio.create_task(fetch())
            try:
                while not stop.is_set():
                    messages = await ahead
                    ahead = asyncio.create_task(fetch())
                    if messages:
                        events = await asyncio.to_thread(
                            self.store.apply_messages, [m.data for m in messages]
                        )
                        self._count(events)
                        await messages[-1].ack()
                        await asyncio.to_thread(self.store.publish_snapshot)
                        if on_progress is not None:
                            on_progress(self.stats)
                        continue
                    if (
                        messages is not None
                        and not follow
                        and await self._caught_up(js, stream, durable)
                    ):
                        break
            finally:
                ahead.cancel()
        finally:
            await connection.close()
        return self.stats

    async def _caught_up(self, js: nats.js.JetStreamContext, stream: str, durable: str) -> bool:
        try:
            info = await js.consumer_info(stream, durable)
        except NotFoundError:
            return True
        return (info.num_pending or 0) == 0 and (info.num_ack_pending or 0) == 0

    @staticmethod
    async def reset_consumer(nats_url: str, stream: str) -> None:
        """Forget the durable consumer, so a rebuild reads the stream from its start."""
        connection = await nats.connect(nats_servers(nats_url), connect_timeout=2)
        try:
            await connection.jetstream().delete_consumer(stream, DURABLE)
        except NotFoundError:
            pass
        finally:
            await connection.close()
