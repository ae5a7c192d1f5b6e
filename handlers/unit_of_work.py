"""What every handler needs: the application, the writer, the clock, and the retry loop."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from domain.base import PPCXAggregate
from domain.clock import Clock
from domain.errors import ConcurrencyConflict
from domain.ids import derived_id
from domain.receipt import CommandReceipt
from eventstore.application import PPCXApplication
from eventstore.store import VersionConflict
from eventstore.writer import SAVE_TIMEOUT_S, EventWriter

T = TypeVar("T")
P = TypeVar("P")
CONFLICT_RETRIES_MAX = 8
BACKOFF_MS_MAX = 50


Change = tuple[list[PPCXAggregate], T]


def _nothing() -> None:
    return None


def _none(_: object) -> Sequence[PPCXAggregate]:
    return ()


def _then(written: Future[None], result: Callable[[], T]) -> Future[T]:
    """A future of `result()`, settled when `written` is (with its error if it failed)."""
    settled: Future[T] = Future()

    def settle(done: Future[None]) -> None:
        if not settled.set_running_or_notify_cancel():
            return  # the caller stopped waiting; the write went on regardless
        if done.cancelled():
            settled.set_exception(CancelledError())
        elif (error := done.exception()) is not None:
            settled.set_exception(error)
        else:
            settled.set_result(result())

    written.add_done_callback(settle)
    return settled


@dataclass
class HandlerContext:
    app: PPCXApplication
    writer: EventWriter
    clock: Clock

    def now(self) -> datetime:
        return self.clock.now()

    def run(self, change: Callable[[], Change[T]], *, hot: tuple[str, ...] = ()) -> T:
        """Decide (reading fresh aggregates) and save atomically.

        `change` returns the aggregates to save and the result. With `hot` (the command
        changes an aggregate many requests change: a buyer's account), the writer decides
        it under the store's write lock, after the commands queued before it: it cannot
        conflict. Otherwise it is decided here and re-run from scratch after a conflict, so
        it must read everything it needs itself."""
        return self.run_prepared(_nothing, lambda _: change(), hot=hot)

    def run_prepared(
        self,
        prepare: Callable[[], P],
        change: Callable[[P], Change[T]],
        *,
        hot: tuple[str, ...] = (),
        fixed: Callable[[P], Sequence[PPCXAggregate]] = _none,
    ) -> T:
        """`run`, with the part of the work that reads no hot aggregate (`prepare`) done
        here, before queueing `change`: the writer's time bounds the hot aggregates'
        throughput. `fixed` names aggregates `prepare` decided, saved with the decision
        (encoded here, off the store's write lock)."""
        for attempt in range(CONFLICT_RETRIES_MAX):
            try:
                return self.submit_prepared(prepare(), change, hot=hot, fixed=fixed).result(
                    timeout=SAVE_TIMEOUT_S
                )
            except VersionConflict:  # another writer got there first: decide again
                pass
            # back off, with jitter
            time.sleep(random.uniform(0, min(BACKOFF_MS_MAX, 2**attempt)) / 1000)
        raise ConcurrencyConflict(
            f"gave up after {CONFLICT_RETRIES_MAX} concurrent-update conflicts; retry later"
        )

    def submit_prepared(
        self,
        prepared: P,
        change: Callable[[P], Change[T]],
        *,
        hot: tuple[str, ...] = (),
        fixed: Callable[[P], Sequence[PPCXAggregate]] = _none,
    ) -> Future[T]:
        """One attempt of `run_prepared` on what was prepared, without waiting: the future
        settles with the result once the events are durable, or with the error (a
        VersionConflict is the caller's to retry). For the event loop, which must not
        block on the writer. A decision made here that raises, raises here."""
        if not hot:
            aggregates, result = change(prepared)
            return _then(self.writer.submit(*fixed(prepared), *aggregates), lambda: result)
        results: list[T] = []

        def decided() -> list[PPCXAggregate]:
            aggregates, result = change(prepared)
            results.append(result)  # the writer may decide it again if its batch is redone
            return aggregates

        written = self.writer.execute(decided, fixed=fixed(prepared))
        return _then(written, lambda: results[-1])

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
