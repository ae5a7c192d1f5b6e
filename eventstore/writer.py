"""Writing aggregates: atomic saves, batched into group commits under load.

Two kinds of work reach the writer:

- `save(*aggregates)` / `submit(...)`: events already decided by the caller, appended in one
  transaction; a version conflict (someone wrote the aggregate first) is the caller's to
  retry.
- `execute(change)`: a command on *hot* aggregates (a buyer's account on every win), decided
  by the writer itself while it holds the store's write lock. Nothing can be appended between
  what `change` reads and what it writes — not by another thread, not by another process —
  so it never conflicts, and commands queued together are decided one after the other in one
  transaction, each seeing the aggregates the ones before it changed. One fsync for a batch
  of holds on the same account, from any number of processes, and no retries.

With `group_commit`, a single writer thread takes whatever is queued as one transaction (the
field notes measure ~2,000 single saves/s on SQLite against ~13,800 events/s in batches).
A batch that fails on a conflict is redone item by item, so only the conflicting save sees
the error — and events are never half-written.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from domain.base import PPCXAggregate
from domain.invariant import invariant
from eventstore.application import Encoded, PPCXApplication
from eventstore.store import VersionConflict

logger = logging.getLogger(__name__)
BATCH_EVENTS_MAX = 5_000
QUEUE_REQUESTS_MAX = 10_000
SAVE_TIMEOUT_S = 60.0
COMMAND_EVENTS_GUESS = 20  # a command's events, for the batch bound: about a call's worth

Change = Callable[[], Sequence[PPCXAggregate]]


@dataclass
class _Save:
    """Events decided by the caller (encoded by the caller too, off the write lock)."""

    aggregates: list[PPCXAggregate]
    events: list[Encoded]
    future: Future[None] = field(default_factory=Future)


@dataclass
class _Command:
    """A decision the writer makes under the store's write lock, saved with aggregates the
    caller decided beforehand (`fixed`, already encoded)."""

    change: Change
    fixed: list[PPCXAggregate] = field(default_factory=list)
    fixed_events: list[Encoded] = field(default_factory=list)
    future: Future[None] = field(default_factory=Future)
    aggregates: list[PPCXAggregate] = field(default_factory=list)
    events: list[Encoded] = field(default_factory=list)


_Item = _Save | _Command


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
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=queue_requests_max)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.commits = 0  # transactions committed (for benchmarks and tests)
        self.on_commit = on_commit  # (seconds, events) after each commit: metrics

    # -- the API --------------------------------------------------------------------------------
    def save(self, *aggregates: PPCXAggregate) -> None:
        """Append the aggregates' pending events atomically; VersionConflict on conflict."""
        self.submit(*aggregates).result(timeout=SAVE_TIMEOUT_S)

    def submit(self, *aggregates: PPCXAggregate) -> Future[None]:
        """Queue the aggregates' pending events as one atomic append and return at once; the
        future settles when they are durable (or refused: VersionConflict)."""
        events = [e for aggregate in aggregates for e in aggregate.collect_events()]
        item = _Save(list(aggregates), self.app.encoded(events))
        if not events:
            item.future.set_result(None)
            return item.future
        return self._enqueue(item)

    def execute(self, change: Change, *, fixed: Sequence[PPCXAggregate] = ()) -> Future[None]:
        """Queue a command: `change` runs in the writer, under the store's write lock, reading
        the aggregates as the commands queued before it left them, and returns the aggregates
        to save, after `fixed` (decided by the caller, saved in the same transaction). The
        future settles when they are durable, or with what `change` raised (then nothing of
        it is written). `change` must be quick and must not wait for the writer."""
        invariant(
            threading.current_thread() is not self._thread,
            "a command was queued from inside another command's decision",
        )
        events = [e for aggregate in fixed for e in aggregate.collect_events()]
        return self._enqueue(_Command(change, list(fixed), self.app.encoded(events)))

    def close(self) -> None:
        self._closed = True
        thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=SAVE_TIMEOUT_S)

    # -- queueing -------------------------------------------------------------------------------
    def _enqueue(self, item: _Item) -> Future[None]:
        if self._closed:
            raise WriterClosed("the event writer is closed")
        if not self.group_commit:
            with self._lock:
                self._commit([item])
        else:
            self._ensure_thread()
            self._queue.put(item)
        return item.future

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
            size = _size(first)
            while size < self.batch_events_max:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._commit(batch)
                    return
                batch.append(more)
                size += _size(more)
            self._commit(batch)

    # -- committing -----------------------------------------------------------------------------
    def _commit(self, batch: Sequence[_Item]) -> None:
        started = time.perf_counter()
        try:
            written = self._decide_and_record(batch)
        except VersionConflict as error:
            if len(batch) == 1:
                _fail(batch[0], error)
            else:  # isolate the conflicting item(s)
                for item in batch:
                    if not item.future.done():
                        self._commit([item])
            return
        except BaseException as error:
            for item in batch:
                _fail(item, error)
            return
        events = [event for item in written for event, _ in item.events]
        if not events:  # every command decided to write nothing (or failed)
            _settle(written)
            return
        self.commits += 1
        if self.on_commit is not None:
            self.on_commit(time.perf_counter() - started, len(events))
        try:
            self.app.after_commit([a for item in written for a in item.aggregates], events)
        except Exception:  # the events are durable; a missed snapshot only slows a cold load
            logger.exception("after-commit housekeeping failed")
        finally:
            _settle(written)

    def _decide_and_record(self, batch: Sequence[_Item]) -> list[_Item]:
        """One transaction under the store's write lock: each command decided in turn on the
        aggregates as the items before it left them → the items to be settled as written.
        A command whose decision raises is settled with that error and writes nothing."""
        written: list[_Item] = []

        def build() -> list[Encoded]:
            written.clear()
            with self.app.in_batch.open() as decided:
                for item in batch:
                    if item.future.done():
                        continue  # decided (and refused) in an earlier try of this batch
                    if isinstance(item, _Command):
                        for aggregate in item.fixed:  # its decision may read them
                            decided[aggregate.id] = aggregate
                        try:
                            hot = list(item.change())
                        except BaseException as error:
                            item.future.set_exception(error)
                            continue
                        item.aggregates = [*item.fixed, *hot]
                        item.events = [
                            *item.fixed_events,
                            *((e, None) for a in hot for e in a.collect_events()),
                        ]
                    else:
                        hot = item.aggregates
                    for aggregate in hot:
                        decided[aggregate.id] = aggregate
                    written.append(item)
            return [e for item in written for e in item.events]

        self.app.record_exclusively(build)
        return written


def _size(item: _Item) -> int:
    return len(item.events) if isinstance(item, _Save) else COMMAND_EVENTS_GUESS


def _fail(item: _Item, error: BaseException) -> None:
    if not item.future.done():
        item.future.set_exception(error)


def _settle(items: Sequence[_Item]) -> None:
    for item in items:
        if not item.future.done():
            item.future.set_result(None)
