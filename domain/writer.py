"""Writing aggregates: atomic saves, batched into group commits under load.

`EventWriter.save(*aggregates)` appends every pending event of the given aggregates in one
transaction and returns once they are durable. With `group_commit`, concurrent saves from many
threads are queued and a single writer thread commits whatever is waiting as one transaction
(one fsync for many requests: the field notes measure ~2,000 single saves/s on SQLite against
~13,800 events/s in batches). A batch that fails on a conflict is retried request by request,
so only the conflicting request sees the error — and its events are never half-written.

`submit(..., after=...)` queues a write without waiting and names the queued writes it was
decided on (hot aggregates' pending state, `domain.pending`): if one of those is refused, so is
this one, unwritten — a write never lands on a state that did not become durable.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import RecordConflictError

from domain.application import PPCXApplication
from domain.base import PPCXAggregate

logger = logging.getLogger(__name__)
BATCH_EVENTS_MAX = 5_000
QUEUE_REQUESTS_MAX = 10_000
SAVE_TIMEOUT_S = 60.0


@dataclass
class _Request:
    aggregates: list[PPCXAggregate]
    events: list[Any]
    after: Sequence[Future[None]] = ()
    future: Future[None] = field(default_factory=Future)

    def refused_predecessor(self) -> bool:
        return any(p.done() and p.exception() is not None for p in self.after)


class WriterClosed(RuntimeError):
    pass


class EventWriter:
    def __init__(
        self,
        app: PPCXApplication,
        *,
        group_commit: bool = False,
        batch_events_max: int = BATCH_EVENTS_MAX,
        queue_requests_max: int = QUEUE_REQUESTS_MAX,
        on_commit: Callable[[float, int], None] | None = None,
    ) -> None:
        self.app = app
        self.group_commit = group_commit
        self.batch_events_max = batch_events_max
        self._queue: queue.Queue[_Request | None] = queue.Queue(maxsize=queue_requests_max)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.commits = 0  # transactions committed (for benchmarks and tests)
        self.on_commit = on_commit  # (seconds, events) after each commit: metrics

    def save(self, *aggregates: PPCXAggregate) -> None:
        """Append the aggregates' pending events atomically; RecordConflictError on conflict."""
        self.submit(*aggregates).result(timeout=SAVE_TIMEOUT_S)

    def submit(
        self, *aggregates: PPCXAggregate, after: Sequence[Future[None]] = ()
    ) -> Future[None]:
        """Queue the aggregates' pending events as one atomic append and return at once; the
        future settles when they are durable (or refused: RecordConflictError, also when a
        write in `after` was refused). Without group commit it is settled on return."""
        if self._closed:
            raise WriterClosed("the event writer is closed")
        events = [e for aggregate in aggregates for e in aggregate.collect_events()]
        request = _Request(list(aggregates), events, tuple(after))
        if not events:
            request.future.set_result(None)
        elif not self.group_commit:
            with self._lock:
                self._commit([request])
        else:
            self._ensure_thread()
            self._queue.put(request)
        return request.future

    def save_exclusively(self, decide: Callable[[], Sequence[PPCXAggregate]]) -> None:
        """Take the store's write lock, then decide and append: no other write can land in
        between, so this one cannot conflict on what `decide` read. The slow path, for the
        retry after a conflict (another process writing the same hot aggregate would
        otherwise win every race while its queued writes run ahead of the store)."""
        if self._closed:
            raise WriterClosed("the event writer is closed")
        decided: list[PPCXAggregate] = []
        events: list[Any] = []

        def build() -> list[Any]:
            decided[:] = decide()
            events[:] = [e for aggregate in decided for e in aggregate.collect_events()]
            return events

        started = time.perf_counter()
        self.app.record_exclusively(build)
        if not events:
            return
        self.commits += 1
        if self.on_commit is not None:
            self.on_commit(time.perf_counter() - started, len(events))
        try:
            self.app.after_commit(decided, events)
        except Exception:  # the events are durable; a missed snapshot only slows a cold load
            logger.exception("after-commit housekeeping failed")

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="ppcx-event-writer", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            size = len(first.events)
            while size < self.batch_events_max:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._commit(batch)
                    return
                batch.append(more)
                size += len(more.events)
            self._commit(batch)

    def _commit(self, batch: Sequence[_Request]) -> None:
        batch = self._refuse_orphans(batch)
        if not batch:
            return
        events = [e for request in batch for e in request.events]
        started = time.perf_counter()
        try:
            self.app.record(events)
        except RecordConflictError as error:
            if len(batch) == 1:
                batch[0].future.set_exception(error)
            else:  # isolate the conflicting request(s)
                for request in batch:
                    self._commit([request])
            return
        except BaseException as error:
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(error)
            return
        self.commits += 1
        if self.on_commit is not None:
            self.on_commit(time.perf_counter() - started, len(events))
        aggregates = [a for request in batch for a in request.aggregates]
        try:
            self.app.after_commit(aggregates, events)
        except Exception:  # the events are durable; a missed snapshot only slows a cold load
            logger.exception("after-commit housekeeping failed")
        finally:
            for request in batch:
                request.future.set_result(None)

    @staticmethod
    def _refuse_orphans(batch: Sequence[_Request]) -> list[_Request]:
        """Refuse, unwritten, every request built on a refused one → the rest.

        Predecessors are queued first (FIFO, one writer thread), so each one is settled by now
        or sits earlier in this very batch; going in order, each refusal settled before the
        next check, a refusal cascades down a chain inside one batch too."""
        kept = []
        for request in batch:
            if request.refused_predecessor():
                request.future.set_exception(
                    RecordConflictError("a pending write this one was decided on was refused")
                )
            else:
                kept.append(request)
        return kept

    def close(self) -> None:
        self._closed = True
        thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=SAVE_TIMEOUT_S)
