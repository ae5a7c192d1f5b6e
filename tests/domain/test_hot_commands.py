"""Commands on hot aggregates are decided by the writer under the store's write lock
(`EventWriter.execute`): batched, each seeing the ones before it, never conflicting — also
with two processes writing the same buyer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

import pytest
from eventsourcing.persistence import RecordConflictError

from domain.base import PPCXAggregate
from domain.buyer import Buyer
from domain.clock import ManualClock
from domain.errors import InsufficientFunds
from domain.invariant import InvariantViolation
from eventstore.writer import EventWriter, _Command, _Item, _Save
from handlers import parse
from handlers.setup import SetupHandlers
from handlers.unit_of_work import HandlerContext
from ppcx.bootstrap import build_application
from ppcx.settings import Settings

pytestmark = pytest.mark.integration

THREADS_PER_PROCESS = 8
DEPOSITS_PER_THREAD = 25


def _versions(settings: Settings, aggregate_id: str) -> list[int]:
    app = build_application(settings)
    try:
        return [e.originator_version for e in app.recorder.select_events(aggregate_id)]
    finally:
        app.close()


@pytest.fixture
def registered(local_settings: Settings, clock: ManualClock) -> Iterator[tuple[EventWriter, str]]:
    app = build_application(local_settings)
    writer = EventWriter(app)
    try:
        setup = SetupHandlers(HandlerContext(app=app, writer=writer, clock=clock))
        yield writer, setup.register_buyer(parse.register_buyer(name="B", time_zone="UTC", by="t"))
    finally:
        writer.close()
        app.close()


def _deposit(
    writer: EventWriter, buyer_id: str, amount_cents: int, clock: ManualClock
) -> Callable[[], Sequence[PPCXAggregate]]:
    def change() -> list[PPCXAggregate]:
        buyer = writer.app.load(Buyer, buyer_id, "buyer_id")
        buyer.deposit(f"tx_{amount_cents:032x}", amount_cents, "r", "t", clock.now())
        return [buyer]

    return change


def test_two_processes_on_one_buyer_never_conflict_and_lose_nothing(
    store_settings: Settings, clock: ManualClock
) -> None:
    """Two applications (as two workers would), each with a group-commit writer and many
    threads, deposit to one buyer at once: no deposit fails, none is lost or doubled, the
    versions have no gap, and they were batched."""
    apps = [build_application(store_settings) for _ in range(2)]
    writers = [EventWriter(a, group_commit=True) for a in apps]
    try:
        handlers = [
            SetupHandlers(HandlerContext(app=a, writer=w, clock=clock))
            for a, w in zip(apps, writers, strict=True)
        ]
        buyer_id = handlers[0].register_buyer(
            parse.register_buyer(name="Hot", time_zone="UTC", by="t")
        )
        errors: list[BaseException] = []

        def hammer(h: SetupHandlers) -> None:
            for _ in range(DEPOSITS_PER_THREAD):
                try:
                    h.deposit(
                        parse.deposit_funds(buyer_id=buyer_id, amount="1.00", reference="r", by="t")
                    )
                except BaseException as error:
                    errors.append(error)

        threads = [
            threading.Thread(target=hammer, args=(h,))
            for h in handlers
            for _ in range(THREADS_PER_PROCESS)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        deposits = 2 * THREADS_PER_PROCESS * DEPOSITS_PER_THREAD
        assert _versions(store_settings, buyer_id) == list(range(1, deposits + 2))
        fresh = build_application(store_settings)
        try:
            assert fresh.repository.get(buyer_id).available_cents == deposits * 100
        finally:
            fresh.close()
        assert sum(w.commits for w in writers) < deposits  # batched
    finally:
        for w in writers:
            w.close()
        for a in apps:
            a.close()


def test_commands_in_one_batch_see_each_other_and_a_refusal_writes_nothing(
    registered: tuple[EventWriter, str], local_settings: Settings, clock: ManualClock
) -> None:
    writer, buyer_id = registered

    def overdraw() -> list[PPCXAggregate]:
        buyer = writer.app.load(Buyer, buyer_id, "buyer_id")
        assert buyer.available_cents == 300  # the two deposits before it, not yet stored
        buyer.place_hold("hold_" + "1" * 32, "call_" + "1" * 32, "pub_x", 301, 200, clock.now())
        return [buyer]

    batch: list[_Item] = [
        _Command(_deposit(writer, buyer_id, 100, clock)),
        _Command(_deposit(writer, buyer_id, 200, clock)),
        _Command(overdraw),
        _Command(_deposit(writer, buyer_id, 400, clock)),
    ]
    writer._commit(batch)
    assert isinstance(batch[2].future.exception(), InsufficientFunds)
    for n in (0, 1, 3):
        assert batch[n].future.result() is None
    assert _versions(local_settings, buyer_id) == [1, 2, 3, 4]
    assert writer.app.load(Buyer, buyer_id, "buyer_id").available_cents == 700
    assert writer.commits == 2  # the registration, then the whole batch in one transaction


def test_a_conflicting_save_in_a_batch_fails_alone(
    registered: tuple[EventWriter, str], local_settings: Settings, clock: ManualClock
) -> None:
    """A save decided outside the writer on a state that moved is refused; the commands
    queued with it are redone and land."""
    writer, buyer_id = registered
    stale = writer.app.load(Buyer, buyer_id, "buyer_id")  # version 1
    stale.deposit("tx_" + "e" * 32, 5, "r", "t", clock.now())
    batch: list[_Item] = [
        _Command(_deposit(writer, buyer_id, 100, clock)),  # takes version 2
        _Save([stale], writer.app.encoded(stale.collect_events())),  # also version 2
        _Command(_deposit(writer, buyer_id, 200, clock)),
    ]
    writer._commit(batch)
    assert isinstance(batch[1].future.exception(), RecordConflictError)
    assert batch[0].future.result() is None
    assert batch[2].future.result() is None
    assert _versions(local_settings, buyer_id) == [1, 2, 3]
    assert writer.app.load(Buyer, buyer_id, "buyer_id").available_cents == 300


def test_a_command_cannot_be_queued_from_inside_a_decision(
    registered: tuple[EventWriter, str], clock: ManualClock
) -> None:
    writer, buyer_id = registered
    group = EventWriter(writer.app, group_commit=True)
    try:
        inner: list[BaseException] = []

        def nested() -> list[PPCXAggregate]:
            try:
                group.execute(_deposit(group, buyer_id, 1, clock))
            except BaseException as error:
                inner.append(error)
            return []

        group.execute(nested).result(10)
        assert len(inner) == 1
        assert isinstance(inner[0], InvariantViolation)  # would wait for itself forever
    finally:
        group.close()


def test_other_readers_never_see_a_batch_being_decided(
    registered: tuple[EventWriter, str], clock: ManualClock
) -> None:
    writer, buyer_id = registered
    seen_outside: list[int] = []

    def decide_and_look_from_another_thread() -> list[PPCXAggregate]:
        buyer = writer.app.load(Buyer, buyer_id, "buyer_id")
        buyer.deposit("tx_" + "a" * 32, 700, "r", "t", clock.now())
        with writer.app.in_batch.open() as decided:
            decided[buyer.id] = buyer
            reader = threading.Thread(
                target=lambda: seen_outside.append(
                    writer.app.load(Buyer, buyer_id, "buyer_id").available_cents
                )
            )
            reader.start()
            reader.join()
            inside = writer.app.load(Buyer, buyer_id, "buyer_id")
            assert inside is not buyer  # a copy: a decision cannot change the batch's state
            assert inside.available_cents == 700
        return []

    writer.execute(decide_and_look_from_another_thread).result(10)
    assert seen_outside == [0]
