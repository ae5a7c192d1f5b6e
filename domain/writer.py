"""Writing aggregates: atomic saves, batched into group commits under load.

`EventWriter.save(*aggregates)` appends every pending event of the given aggregates in one
transaction and returns once they are durable. With `group_commit`, concurrent saves from many
threads are queued and a single writer thread commits whatever is waiting as one transaction
(one fsync for many requests: the field notes measure ~2,000 single saves/s on SQLite against
~13,800 events/s in batches). A batch that fails on a conflict is retried request by request,
so only the conflicting request sees the error — and its events are never half-written.
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
    future: Future[None] = field(default_factory=Future)


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
        if self._closed:
            raise WriterClosed("the event writer is closed")
        events = [e for aggregate in aggregates for e in aggregate.collect_events()]
        if not events:
            return
        request = _Request(list(aggregates), events)
        if not self.group_commit:
            with self._lock:
                self._commit([request])
        else:
            self._ensure_thread()
            self._queue.put(request)
        request.future.result(timeout=SAVE_TIMEOUT_S)

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

    def close(self) -> None:
        self._closed = True
        thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=SAVE_TIMEOUT_S)
