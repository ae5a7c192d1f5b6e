"""Pipelined writes to hot aggregates (`domain.pending`, `EventWriter.submit(after=...)`):
a command decides on the queued state of a hot aggregate instead of waiting for its commit,
and a write built on a state that was refused is refused with it — never a gap in an
aggregate's versions, never a balance built on money that was not recorded."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest
from eventsourcing.persistence import RecordConflictError

from domain.buyer import Buyer
from domain.clock import ManualClock
from domain.commands import DepositFunds, RegisterBuyer
from domain.errors import ConcurrencyConflict
from domain.handlers.context import HandlerContext
from domain.handlers.setup import SetupHandlers
from domain.writer import EventWriter, _Request
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


def test_two_processes_pipelining_one_buyer_leave_no_gap_and_lose_no_money(
    store_settings: Settings, clock: ManualClock
) -> None:
    """Two applications (as two uvicorn workers would), each with a group-commit writer and
    many threads, deposit to one buyer at once: every deposit that returned is in the books
    exactly once, the buyer's versions have no gap, and the balance is their sum."""
    apps = [build_application(store_settings) for _ in range(2)]
    writers = [EventWriter(a, group_commit=True) for a in apps]
    try:
        handlers = [
            SetupHandlers(HandlerContext(app=a, writer=w, clock=clock))
            for a, w in zip(apps, writers, strict=True)
        ]
        buyer_id = handlers[0].register_buyer(RegisterBuyer("Hot", "UTC", by="t"))
        succeeded: list[int] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def hammer(h: SetupHandlers) -> None:
            for _ in range(DEPOSITS_PER_THREAD):
                try:
                    h.deposit(DepositFunds(buyer_id, "1.00", "r", by="t"))
                except BaseException as error:
                    with lock:
                        errors.append(error)
                else:
                    with lock:
                        succeeded.append(1)

        threads = [
            threading.Thread(target=hammer, args=(h,))
            for h in handlers
            for _ in range(THREADS_PER_PROCESS)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(isinstance(e, ConcurrencyConflict) for e in errors), errors[:3]
        deposits = len(succeeded)
        assert deposits >= 0.9 * 2 * THREADS_PER_PROCESS * DEPOSITS_PER_THREAD
        versions = _versions(store_settings, buyer_id)
        assert versions == list(range(1, deposits + 2))  # registered, then one per deposit
        fresh = build_application(store_settings)
        try:
            buyer = fresh.repository.get(buyer_id)
            assert buyer.available_cents == deposits * 100
        finally:
            fresh.close()
        # pipelining batched them: far fewer commits than writes
        assert sum(w.commits for w in writers) < deposits
    finally:
        for w in writers:
            w.close()
        for a in apps:
            a.close()


def _deposit_request(
    buyer: Buyer, clock: ManualClock, n: int, after: list[Future[None]]
) -> _Request:
    buyer.deposit(f"tx_{n:032x}", 100, "r", "t", clock.now())
    return _Request([buyer], list(buyer.collect_events()), tuple(after))


def test_a_refusal_cascades_down_a_chain_inside_one_batch(
    settings: Settings, clock: ManualClock
) -> None:
    """A chain queued on a state that another writer got to first is refused as a whole,
    also when it shares a batch with the write it was built on."""
    app = build_application(settings)
    writer = EventWriter(app)
    try:
        setup = SetupHandlers(HandlerContext(app=app, writer=writer, clock=clock))
        buyer_id = setup.register_buyer(RegisterBuyer("B", "UTC", by="t"))
        base = app.load(Buyer, buyer_id, "buyer_id")
        rival = app.load(Buyer, buyer_id, "buyer_id")
        rival.deposit("tx_" + "f" * 32, 500, "r", "t", clock.now())
        writer.save(rival)  # takes version 2 first
        first = _deposit_request(base, clock, 1, [])  # also version 2: refused
        second = _deposit_request(base, clock, 2, [first.future])  # version 3, built on it
        third = _deposit_request(base, clock, 3, [second.future])
        writer._commit([first, second, third])
        for request in (first, second, third):
            assert isinstance(request.future.exception(), RecordConflictError)
        assert _versions(settings, buyer_id) == [1, 2]  # no version 3 or 4 on a false base
        assert app.load(Buyer, buyer_id, "buyer_id").available_cents == 500
    finally:
        writer.close()
        app.close()


def test_a_chain_on_a_write_refused_in_an_earlier_batch_is_refused_whole(
    settings: Settings, clock: ManualClock
) -> None:
    """The head of the chain was refused in an earlier batch; the rest shares a batch, and
    the last write's version happens to be free: it must still be refused (else versions
    2 and 4 would be stored with no 3)."""
    app = build_application(settings)
    writer = EventWriter(app)
    try:
        setup = SetupHandlers(HandlerContext(app=app, writer=writer, clock=clock))
        buyer_id = setup.register_buyer(RegisterBuyer("B", "UTC", by="t"))
        base = app.load(Buyer, buyer_id, "buyer_id")
        rival = app.load(Buyer, buyer_id, "buyer_id")
        rival.deposit("tx_" + "f" * 32, 500, "r", "t", clock.now())
        writer.save(rival)  # version 2
        first = _deposit_request(base, clock, 1, [])  # version 2: refused
        writer._commit([first])
        second = _deposit_request(base, clock, 2, [first.future])  # version 3 (free)
        third = _deposit_request(base, clock, 3, [second.future])  # version 4 (free)
        writer._commit([second, third])
        assert all(
            isinstance(r.future.exception(), RecordConflictError) for r in (first, second, third)
        )
        assert _versions(settings, buyer_id) == [1, 2]
        assert app.load(Buyer, buyer_id, "buyer_id").available_cents == 500
    finally:
        writer.close()
        app.close()


def test_pending_state_is_seen_only_by_a_command_holding_the_lock(
    settings: Settings, clock: ManualClock
) -> None:
    app = build_application(settings)
    writer = EventWriter(app, group_commit=True)
    try:
        ctx = HandlerContext(app=app, writer=writer, clock=clock)
        setup = SetupHandlers(ctx)
        buyer_id = setup.register_buyer(RegisterBuyer("B", "UTC", by="t"))
        gate = threading.Event()
        queued: Future[None] = Future()

        def blocked_commit() -> None:
            gate.wait(10)
            queued.set_result(None)

        # a write that stays queued until the gate opens
        buyer = app.load(Buyer, buyer_id, "buyer_id")
        buyer.deposit("tx_" + "a" * 32, 700, "r", "t", clock.now())
        threading.Thread(target=blocked_commit).start()
        with app.pending.visible((buyer_id,)):
            app.pending.publish([buyer], queued)
            inside = app.load(Buyer, buyer_id, "buyer_id")
            assert app.pending.after() == [queued]
        outside = app.load(Buyer, buyer_id, "buyer_id")
        assert (inside.available_cents, inside.version) == (700, 2)
        assert (outside.available_cents, outside.version) == (0, 1)
        assert inside is not buyer  # a copy: the command cannot change the queued state
        gate.set()
        queued.result(10)
        assert len(app.pending) == 0  # settled entries go away
    finally:
        writer.close()
        app.close()
