"""The same contract against SQLite and PostgreSQL: atomic saves, conflicts, the audit chain,
snapshots, idempotent commands, and group commit."""

from __future__ import annotations

import fcntl
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from eventsourcing.persistence import IntegrityError

from domain.buyer import Buyer
from domain.clock import ManualClock
from domain.errors import ConcurrencyConflict
from eventstore.chain import GENESIS, chain_key, link_digest
from eventstore.writer import EventWriter
from handlers import parse
from handlers.results import DepositReceipt
from handlers.setup import SetupHandlers
from handlers.unit_of_work import HandlerContext
from ppcx.bootstrap import Domain, build_application
from ppcx.secrets import audit_key
from ppcx.settings import Settings
from tests.support.log import ledger_from_log, notifications
from tests.support.market import build_market

pytestmark = pytest.mark.integration


def _chain_rows(domain: Domain) -> list[tuple[int, bytes]]:
    rows = domain.app.store.read_chained(1, 100_000)
    return [(r[0], r[5]) for r in rows]


def test_every_event_is_chained_in_notification_order(
    any_domain: Domain, store_settings: Settings
) -> None:
    build_market(any_domain)
    key = chain_key(audit_key(store_settings))
    rows = dict(_chain_rows(any_domain))
    previous = GENESIS
    count = 0
    for n in notifications(any_domain.app):
        previous = link_digest(
            key, previous, n.id, str(n.originator_id), n.originator_version, n.topic, n.state
        )
        assert rows[n.id] == previous
        count += 1
    assert count == len(rows) > 5


def test_conflicting_versions_are_refused_atomically(any_domain: Domain) -> None:
    setup = any_domain.setup
    buyer_id = setup.register_buyer(parse.register_buyer(name="B", time_zone="UTC", by="t"))
    first = any_domain.app.load(Buyer, buyer_id, "buyer_id")
    second = any_domain.app.load(Buyer, buyer_id, "buyer_id")
    publisher = any_domain.app  # unrelated aggregate saved in the same batch must not land
    from domain.publisher import Publisher

    bystander = Publisher(id="pub_" + "1" * 32, name="x", by="t", timestamp=any_domain.clock.now())
    first.deposit("tx_" + "a" * 32, 100, "r", "t", any_domain.clock.now())
    second.deposit("tx_" + "b" * 32, 200, "r", "t", any_domain.clock.now())
    any_domain.writer.save(first)
    with pytest.raises(IntegrityError):
        any_domain.writer.save(second, bystander)
    assert not publisher.exists(bystander.id)
    assert any_domain.app.load(Buyer, buyer_id, "buyer_id").available_cents == 100


def test_hot_aggregate_conflicts_are_retried_across_writers(
    store_settings: Settings, clock: ManualClock
) -> None:
    """Two applications (as two processes would) deposit to one buyer concurrently."""
    apps = [build_application(store_settings) for _ in range(2)]
    try:
        contexts = [HandlerContext(app=a, writer=EventWriter(a), clock=clock) for a in apps]
        handlers = [SetupHandlers(c) for c in contexts]
        buyer_id = handlers[0].register_buyer(
            parse.register_buyer(name="Hot", time_zone="UTC", by="t")
        )
        errors: list[BaseException] = []
        succeeded: list[int] = []

        def hammer(h: SetupHandlers) -> None:
            done = 0
            try:
                for _ in range(15):
                    h.deposit(
                        parse.deposit_funds(buyer_id=buyer_id, amount="1.00", reference="r", by="t")
                    )
                    done += 1
            except BaseException as error:
                errors.append(error)
            succeeded.append(done)

        threads = [threading.Thread(target=hammer, args=(h,)) for h in handlers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # a conflict that exhausts the retries is a clear error, never a lost or double write
        assert all(isinstance(e, ConcurrencyConflict) for e in errors)
        fresh = build_application(store_settings)
        try:
            buyer = fresh.repository.get(buyer_id)
            deposits = sum(succeeded)
            assert deposits >= 15  # most got through their retries
            assert buyer.available_cents == deposits * 100
            assert buyer.version == 1 + deposits
        finally:
            fresh.close()
    finally:
        for a in apps:
            a.close()


def test_commands_with_an_id_take_effect_once(any_domain: Domain) -> None:
    setup = any_domain.setup
    first = setup.register_publisher(parse.register_publisher(name="P", by="t", command_id="c-1"))
    again = setup.register_publisher(parse.register_publisher(name="P", by="t", command_id="c-1"))
    assert first == again
    buyer_id = setup.register_buyer(parse.register_buyer(name="B", time_zone="UTC", by="t"))
    receipts = [
        setup.deposit(
            parse.deposit_funds(
                buyer_id=buyer_id, amount="10.00", reference="wire 7", by="t", command_id="dep-7"
            )
        )
        for _ in range(3)
    ]
    assert any_domain.app.load(Buyer, buyer_id, "buyer_id").available_cents == 1000
    # the repeats answer from the stored receipt what the first answered
    assert receipts == [DepositReceipt(receipts[0].transfer_id, 1000)] * 3


def test_snapshots_bound_cold_loads(any_domain: Domain, store_settings: Settings) -> None:
    setup = any_domain.setup
    buyer_id = setup.register_buyer(parse.register_buyer(name="Busy", time_zone="UTC", by="t"))
    for _ in range(205):
        setup.deposit(parse.deposit_funds(buyer_id=buyer_id, amount="1.00", reference="r", by="t"))
    assert any_domain.app.snapshots is not None
    snapshots = list(any_domain.app.snapshots.get(buyer_id))
    assert [s.originator_version for s in snapshots] == [200]
    cold = build_application(store_settings)
    try:
        buyer = cold.repository.get(buyer_id)
        assert buyer.version == 206
        assert buyer.available_cents == 20500
    finally:
        cold.close()


def test_group_commit_batches_concurrent_saves(
    store_settings: Settings, clock: ManualClock
) -> None:
    app = build_application(store_settings)
    writer = EventWriter(app, group_commit=True)
    try:
        setup = SetupHandlers(HandlerContext(app=app, writer=writer, clock=clock))
        ids: list[str] = []
        lock = threading.Lock()

        def register(n: int) -> None:
            for i in range(10):
                pid = setup.register_publisher(parse.register_publisher(name=f"P{n}-{i}", by="t"))
                with lock:
                    ids.append(pid)

        threads = [threading.Thread(target=register, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(ids)) == 80
        assert app.store.head() > 0
        assert writer.commits <= 80
        assert all(app.exists(pid) for pid in ids)
    finally:
        writer.close()
        app.close()


def test_ledger_invariants_hold_on_both_stores(any_domain: Domain, clock: ManualClock) -> None:
    market = build_market(any_domain)
    won = market.auction([market.targets[0]])
    clock.advance(timedelta(seconds=1))
    assert won.accepted
    ledger = ledger_from_log(any_domain.app)
    ledger.check(market.buyers)
    assert len(ledger.pending) == 1


def test_snapshot_of_a_group_commit_is_the_replayed_state(
    store_settings: Settings, clock: ManualClock
) -> None:
    """A batch that crosses a snapshot interval snapshots its newest state, which must be what
    replaying the events to that version gives."""
    app = build_application(store_settings)
    writer = EventWriter(app, group_commit=True)
    try:
        setup = SetupHandlers(HandlerContext(app=app, writer=writer, clock=clock))
        buyer_id = setup.register_buyer(parse.register_buyer(name="Busy", time_zone="UTC", by="t"))
        amounts = [f"{n % 7 + 1}.{n % 100:02d}" for n in range(420)]

        def deposit(amount: str) -> None:
            setup.deposit(
                parse.deposit_funds(buyer_id=buyer_id, amount=amount, reference="r", by="t")
            )

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(deposit, amounts))
        assert app.snapshots is not None
        snapshots = list(app.snapshots.get(buyer_id))
        assert len(snapshots) >= 2, [s.originator_version for s in snapshots]  # 200, 400 crossed
        for snapshot in snapshots:
            replayed: Buyer | None = None
            for event in app.events.get(buyer_id, lte=snapshot.originator_version):
                replayed = event.mutate(replayed)
            assert replayed is not None
            restored = snapshot.mutate(None)
            assert restored.version == replayed.version == snapshot.originator_version
            assert restored.balance() == replayed.balance()
            assert vars(restored) == vars(replayed)
    finally:
        writer.close()
        app.close()


def test_a_snapshot_is_written_in_the_writers_turn(
    domain: Domain, local_settings: Settings
) -> None:
    """Another process's writer holds the turn: the snapshot waits for it (not in SQLite's
    busy handler, which sleeps up to 100 ms per try and stalled the writer for seconds)."""
    setup = domain.setup
    buyer_id = setup.register_buyer(parse.register_buyer(name="Busy", time_zone="UTC", by="t"))
    for _ in range(200):
        setup.deposit(parse.deposit_funds(buyer_id=buyer_id, amount="1.00", reference="r", by="t"))
    app = domain.app
    assert app.snapshots is not None
    buyer = app.load(Buyer, buyer_id, "buyer_id")
    crossing = list(app.events.get(buyer_id, gt=199, lte=200))
    turn = os.open(f"{local_settings.resolved_sqlite_path}.write-turn", os.O_RDWR | os.O_CREAT)
    done = threading.Event()
    try:
        fcntl.flock(turn, fcntl.LOCK_EX)  # as another process's writer would
        snapshotting = threading.Thread(
            target=lambda: (app.after_commit([buyer], crossing), done.set()), daemon=True
        )
        snapshotting.start()
        assert not done.wait(0.3), "the snapshot was written outside the writers' turn"
        assert [s.originator_version for s in app.snapshots.get(buyer_id)] == [200]
    finally:
        fcntl.flock(turn, fcntl.LOCK_UN)
        os.close(turn)
    assert done.wait(30)
    assert [s.originator_version for s in app.snapshots.get(buyer_id)] == [200, buyer.version]


def test_the_store_reads_topics_one_aggregate_and_its_head(any_domain: Domain) -> None:
    """`EventStore`'s reads, as the config sync, the call timeline and readiness use them."""
    market = build_market(any_domain)
    store = any_domain.app.store
    chained = store.read_chained(1, 100_000)
    assert store.head() == chained[-1][0]
    buyer = market.buyers[0]
    mine = [r for r in chained if r[1] == buyer]
    assert store.read_aggregate(buyer) == [(r[1], r[2], r[3], r[4]) for r in mine]
    assert store.read_aggregate("buy_" + "0" * 32) == []
    deposits = "domain.buyer:Buyer.FundsDeposited"
    wanted = [(r[0], r[1], r[2], r[3], r[4]) for r in chained if r[3] == deposits]
    assert len(wanted) == 2
    assert store.read_topics(1, 100, stop=store.head(), topics=[deposits]) == wanted
    assert store.read_topics(1, 1, stop=store.head(), topics=[deposits]) == wanted[:1]
    assert (
        store.read_topics(wanted[0][0] + 1, 100, stop=store.head(), topics=[deposits])
        == (wanted[1:])
    )
    assert store.read_topics(1, 100, stop=wanted[1][0] - 1, topics=[deposits]) == wanted[:1]


def test_a_refused_append_leaves_no_gap_in_the_ids(any_domain: Domain) -> None:
    """A rolled-back append (a version conflict here; a process killed mid-append likewise)
    spends no notification id: the next event follows the head, so `replay verify` never
    reads a refused write as a deleted event (on PostgreSQL a sequence would leave a gap)."""
    setup = any_domain.setup
    buyer_id = setup.register_buyer(parse.register_buyer(name="B", time_zone="UTC", by="t"))
    first = any_domain.app.load(Buyer, buyer_id, "buyer_id")
    second = any_domain.app.load(Buyer, buyer_id, "buyer_id")
    first.deposit("tx_" + "a" * 32, 100, "r", "t", any_domain.clock.now())
    second.deposit("tx_" + "b" * 32, 200, "r", "t", any_domain.clock.now())
    any_domain.writer.save(first)
    head = any_domain.app.store.head()
    with pytest.raises(IntegrityError):
        any_domain.writer.save(second)
    setup.register_buyer(parse.register_buyer(name="C", time_zone="UTC", by="t"))
    ids = [row_id for row_id, _ in _chain_rows(any_domain)]
    assert ids == list(range(1, len(ids) + 1))
    assert any_domain.app.store.head() == len(ids) > head
