"""What every handler needs: the application, the writer, the clock, and the retry loop."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from eventsourcing.persistence import RecordConflictError

from domain.application import PPCXApplication
from domain.base import PPCXAggregate
from domain.clock import Clock
from domain.errors import ConcurrencyConflict
from domain.ids import derived_id
from domain.receipt import CommandReceipt
from domain.writer import SAVE_TIMEOUT_S, EventWriter

T = TypeVar("T")
P = TypeVar("P")
CONFLICT_RETRIES_MAX = 8
BACKOFF_MS_MAX = 50


class KeyedLocks:
    """One lock per key (a hot aggregate id), so this process never races itself on it;
    conflicts with other processes are left to optimistic concurrency."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, *keys: str) -> Iterator[None]:
        ordered = sorted(set(keys))  # a fixed order, so two holders never deadlock
        locks = [self._acquire_ref(k) for k in ordered]
        for lock in locks:
            lock.acquire()
        try:
            yield
        finally:
            for lock in reversed(locks):
                lock.release()
            for key in ordered:
                self._release_ref(key)

    def _acquire_ref(self, key: str) -> threading.Lock:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
            return lock

    def _release_ref(self, key: str) -> None:
        with self._guard:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


Decision = tuple[list[PPCXAggregate], T]


def _nothing() -> None:
    return None


def _settled(ticket: Future[None]) -> RecordConflictError | None:
    """Wait for a queued write: None once durable, the conflict if it was refused."""
    try:
        ticket.result(timeout=SAVE_TIMEOUT_S)
    except RecordConflictError as conflict:
        return conflict
    return None


@dataclass
class HandlerContext:
    app: PPCXApplication
    writer: EventWriter
    clock: Clock
    locks: KeyedLocks = field(default_factory=KeyedLocks)

    def now(self) -> datetime:
        return self.clock.now()

    def run(self, decide: Callable[[], Decision[T]], *, hot: tuple[str, ...] = ()) -> T:
        """Decide (reading fresh aggregates) and save atomically, retrying conflicts.

        `decide` returns the aggregates to save and the result; it is re-run from scratch
        after a conflict, so it must read everything it needs itself. `hot` names aggregates
        that this process serialises on; `decide` sees their pending (queued, not yet
        durable) state, and the result is returned once this command's own events are
        durable."""
        return self.run_prepared(_nothing, lambda _: decide(), hot=hot)

    def run_prepared(
        self,
        prepare: Callable[[], P],
        decide: Callable[[P], Decision[T]],
        *,
        hot: tuple[str, ...] = (),
    ) -> T:
        """`run`, with the part of the work that reads no hot aggregate (`prepare`) done
        before taking their locks: the time under a hot lock bounds that aggregate's
        throughput. Both are re-run after a conflict."""
        pending = self.app.pending
        for attempt in range(CONFLICT_RETRIES_MAX):
            prepared = prepare()
            if attempt > 0:
                # The slow path after a conflict: decide on the store's state under its write
                # lock. Pipelining again could lose every race to another process whose
                # queued writes to the same aggregate run ahead of the store.
                try:
                    return self._run_exclusively(prepared, decide, hot)
                except RecordConflictError:  # another aggregate it creates appeared meanwhile
                    pass
            else:
                with self.locks.hold(*hot), pending.visible(hot):
                    aggregates, result = decide(prepared)
                    # Queued, not awaited, under the lock: the next command on these hot
                    # aggregates decides on this pending state instead of waiting.
                    ticket = self.writer.submit(*aggregates, after=pending.after())
                    pending.publish(aggregates, ticket)
                if _settled(ticket) is None:
                    return result
            # back off outside the lock, with jitter
            time.sleep(random.uniform(0, min(BACKOFF_MS_MAX, 2**attempt)) / 1000)
        raise ConcurrencyConflict(
            f"gave up after {CONFLICT_RETRIES_MAX} concurrent-update conflicts; retry later"
        )

    def _run_exclusively(
        self, prepared: P, decide: Callable[[P], Decision[T]], hot: tuple[str, ...]
    ) -> T:
        results: list[T] = []

        def decided() -> list[PPCXAggregate]:
            aggregates, result = decide(prepared)
            results.append(result)
            return aggregates

        # this process's own queued writes are not visible: they would land after this one
        with self.locks.hold(*hot), self.app.pending.visible(()):
            self.writer.save_exclusively(decided)
        return results[-1]

    # -- command ids -------------------------------------------------------------------------
    def receipt_for(self, command_id: str | None) -> CommandReceipt | None:
        if command_id is None:
            return None
        return self.app.find(CommandReceipt, derived_id("cmd", "receipt", command_id))

    def new_receipt(
        self, command_id: str | None, command: str, result: dict[str, object], at: datetime
    ) -> list[PPCXAggregate]:
        if command_id is None:
            return []
        return [
            CommandReceipt(
                id=derived_id("cmd", "receipt", command_id),
                command=command,
                result=result,
                timestamp=at,
            )
        ]
