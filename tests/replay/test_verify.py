"""`replay verify` on a real log: clean logs pass (byte-identical reports), and tampering —
an edited amount, a deleted, swapped or forged event, a cut end — is detected with its
position; an insider who re-chains with the audit key is still caught by the books, the
billing rules and the auction re-run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from domain.clock import ManualClock
from eventstore.chain import GENESIS, ChainHasher, chain_key
from handlers import parse
from ppcx.bootstrap import Domain, ExchangeRuntime
from ppcx.cli import app as cli
from ppcx.settings import Settings
from replay.books import Books
from replay.log import event_name, pages
from replay.verify import Report, verify
from tests.replay.conftest import drive, market
from tests.support.log import ledger_from_log

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
Row = tuple[int, str, bytes]


def _key(settings: Settings) -> bytes:
    assert settings.audit_key is not None
    return chain_key(settings.audit_key)


def _verify(settings: Settings, domain: Domain, **kw: object) -> Report:
    return verify(domain.app.store.read_chained, _key(settings), **kw)  # type: ignore[arg-type]


def _db(settings: Settings) -> Path:
    return Path(str(settings.sqlite_dbname))


def _rows(db: Path) -> list[Row]:
    with sqlite3.connect(db) as con:
        return con.execute(
            "SELECT rowid, topic, state FROM stored_events ORDER BY rowid"
        ).fetchall()


def _edit(db: Path, rowid: int, data: dict[str, object]) -> None:
    with sqlite3.connect(db) as con:
        con.execute(
            "UPDATE stored_events SET state = ? WHERE rowid = ?", (orjson.dumps(data), rowid)
        )


def _rechain(db: Path, key: bytes) -> None:
    """What an insider holding the audit key could do after editing: recompute every link."""
    hasher, previous = ChainHasher(key), GENESIS
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT rowid, originator_id, originator_version, topic, state "
            "FROM stored_events ORDER BY rowid"
        ).fetchall()
        for rowid, originator_id, version, topic, state in rows:
            previous = hasher.link(previous, rowid, originator_id, version, topic, state)
            con.execute("UPDATE stored_events SET chain = ? WHERE rowid = ?", (previous, rowid))


def _failures(report: Report) -> set[tuple[int, str]]:
    return {(f.position, f.check) for f in report.failures}


def _first(rows: list[Row], name: str, n: int = 0) -> Row:
    return [r for r in rows if event_name(r[1]) == name][n]


@pytest.fixture
async def logged(domain: Domain, runtime: ExchangeRuntime, clock: ManualClock) -> Domain:
    m = market(domain, runtime)
    billed = await drive(domain, runtime, clock, m, 60)
    assert billed > 10
    return domain


async def test_a_clean_log_verifies_and_the_report_is_byte_identical(
    logged: Domain, settings: Settings
) -> None:
    first = _verify(settings, logged)
    assert first.ok, first.failures[:5]
    assert first.checked["auctions"] > 30
    assert first.checked["routes"] > 30
    assert first.checked["billing"] > 20
    assert first.checked["balances"] > 50
    assert first.checked["holds"] > 30
    assert first.totals["open_holds"] == 0
    assert first.to_json() == _verify(settings, logged).to_json()
    # the calls' checks in a worker process or in this one: the same report
    assert first.to_json() == _verify(settings, logged, parallel=False).to_json()
    assert first.to_json() == _verify(settings, logged, parallel=True).to_json()


async def test_the_fast_books_agree_with_the_domain_ledger(logged: Domain) -> None:
    books = Books()
    for page in pages(logged.app.store.read_chained):
        for _, originator, _, topic, state, _ in page:
            assert topic is not None
            assert state is not None
            assert originator is not None
            if topic.startswith("domain.buyer:"):
                books.apply(event_name(topic), originator, orjson.loads(state))
    ledger = ledger_from_log(logged.app)
    assert set(books.balances) == set(ledger.balances)
    for account, row in books.balances.items():
        b = ledger.balances[account]
        assert row == [b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending]


async def test_an_edited_amount_is_detected_at_its_position(
    logged: Domain, settings: Settings
) -> None:
    db = _db(settings)
    rowid, _topic, state = _first(_rows(db), "Call.CallBilled")
    data = orjson.loads(state)
    # a careful forger keeps revenue = payout + margin; the bill no longer matches the price
    data["revenue_cents"] += 100
    data["margin_cents"] += 100
    _edit(db, rowid, data)
    report = _verify(settings, logged)
    assert not report.ok
    assert {(rowid, "chain"), (rowid, "billing")} <= _failures(report)
    with sqlite3.connect(db) as con:
        (call_id,) = con.execute(
            "SELECT originator_id FROM stored_events WHERE rowid = ?", (rowid,)
        ).fetchone()
    assert {f.aggregate_id for f in report.failures if f.position == rowid} == {call_id}


async def test_a_deleted_event_is_detected(logged: Domain, settings: Settings) -> None:
    db = _db(settings)
    rowid = _first(_rows(db), "Buyer.HoldPosted")[0]
    with sqlite3.connect(db) as con:
        con.execute("DELETE FROM stored_events WHERE rowid = ?", (rowid,))
    report = _verify(settings, logged)
    assert not report.ok
    failures = _failures(report)
    assert (rowid, "chain") in failures  # the gap is named
    assert (rowid + 1, "chain") in failures  # and the next link no longer matches


async def test_swapped_events_are_detected_at_both_positions(
    logged: Domain, settings: Settings
) -> None:
    db = _db(settings)
    with sqlite3.connect(db) as con:
        columns = [c[1] for c in con.execute("PRAGMA table_info(stored_events)")]
        a, b = con.execute(
            "SELECT rowid, * FROM stored_events ORDER BY rowid LIMIT 2 OFFSET 40"
        ).fetchall()
        con.execute("DELETE FROM stored_events WHERE rowid IN (?, ?)", (a[0], b[0]))
        insert = (
            f"INSERT INTO stored_events (rowid, {', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in range(len(columns) + 1))})"
        )
        con.execute(insert, (a[0], *b[1:]))  # whole rows moved, their links with them
        con.execute(insert, (b[0], *a[1:]))
    report = _verify(settings, logged)
    chain = {f.position for f in report.failures if f.check == "chain"}
    assert {a[0], b[0]} <= chain


async def test_a_forged_event_is_detected(logged: Domain, settings: Settings) -> None:
    db = _db(settings)
    rows = _rows(db)
    rowid = _first(rows, "Buyer.FundsDeposited")[0]
    last = rows[-1][0]
    with sqlite3.connect(db) as con:
        columns = [c[1] for c in con.execute("PRAGMA table_info(stored_events)")]
        original = con.execute("SELECT * FROM stored_events WHERE rowid = ?", (rowid,)).fetchone()
        forged = dict(zip(columns, original, strict=True))
        forged["originator_version"] = 10_000
        forged["chain"] = bytes(32)  # without the audit key no valid link can be made
        placeholders = ", ".join("?" for _ in columns)
        con.execute(
            f"INSERT INTO stored_events (rowid, {', '.join(columns)}) VALUES (?, {placeholders})",
            (last + 1, *forged.values()),
        )
    report = _verify(settings, logged)
    assert (last + 1, "chain") in _failures(report)
    # the forged deposit also breaks the buyer's recorded balances
    assert (last + 1, "balances") in _failures(report)


async def test_events_cut_from_the_end_are_caught_against_the_recorded_head(
    logged: Domain, settings: Settings
) -> None:
    first, second = _buyers(logged)[:2]
    for n in range(3):  # the last transactions of the audited log
        logged.setup.deposit(
            parse.deposit_funds(buyer_id=first, amount="1.00", reference=f"a{n}", by="test")
        )
    audited = _verify(settings, logged)
    head, link = audited.head, bytes.fromhex(audited.head_link)
    with sqlite3.connect(_db(settings)) as con:
        con.execute("DELETE FROM stored_events WHERE rowid > ?", (head - 3,))
    assert _verify(settings, logged).ok  # a shorter log is a consistent log …
    cut = _verify(settings, logged, expect_head=head)
    assert _failures(cut) == {(head - 3, "chain")}  # … but not the log finance recorded
    # new events reuse the removed ids and chain on cleanly: only the recorded link tells
    for n in range(3):
        logged.setup.deposit(
            parse.deposit_funds(buyer_id=second, amount="2.00", reference=f"b{n}", by="test")
        )
    rewritten = _verify(settings, logged, expect_head=head, expect_link=link)
    assert rewritten.head == head
    assert _failures(rewritten) == {(head, "chain")}
    assert _verify(settings, logged, expect_head=head).ok


def _buyers(domain: Domain) -> list[str]:
    return [
        str(originator_id)
        for page in pages(domain.app.store.read_chained)
        for _, originator_id, _, topic, _, _ in page
        if topic is not None and event_name(topic) == "Buyer.Registered"
    ]


async def test_a_rechained_bill_is_still_caught_by_the_billing_rules(
    logged: Domain, settings: Settings
) -> None:
    db = _db(settings)
    rowid, _, state = _first(_rows(db), "Call.CallBilled", 2)
    data = orjson.loads(state)
    data["revenue_cents"] -= 500  # a discount nobody decided; revenue = payout + margin still
    data["margin_cents"] -= 500
    _edit(db, rowid, data)
    _rechain(db, _key(settings))
    report = _verify(settings, logged)
    assert _failures(report) == {(rowid, "billing")}


async def test_a_rechained_auction_is_still_caught_by_the_re_run(
    logged: Domain, settings: Settings
) -> None:
    db = _db(settings)
    rowid, _, state = _first(_rows(db), "Call.AuctionDecided", 3)
    data = orjson.loads(state)
    data["ranking"].reverse()  # the decision now favours the last bidder
    _edit(db, rowid, data)
    _rechain(db, _key(settings))
    report = _verify(settings, logged)
    assert (rowid, "auctions") in _failures(report)
    assert all(f.check != "chain" for f in report.failures)


async def test_a_rechained_hold_is_still_caught_by_the_books(
    logged: Domain, settings: Settings
) -> None:
    db = _db(settings)
    rowid, _, state = _first(_rows(db), "Buyer.HoldPlaced", 5)
    data = orjson.loads(state)
    data["transfer"]["entries"][0][1] += 100  # the buyer debited more than the others credited
    _edit(db, rowid, data)
    _rechain(db, _key(settings))
    report = _verify(settings, logged)
    assert (rowid, "ledger") in _failures(report)


async def test_cli_verify_exit_codes_and_json(
    logged: Domain, settings: Settings, tmp_path: Path
) -> None:
    env = {
        "PPCX_DATA_DIR": str(settings.data_dir),
        "SQLITE_DBNAME": str(settings.sqlite_dbname),
        "PPCX_AUDIT_KEY": str(settings.audit_key),
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
    }
    runner = CliRunner()
    ok = runner.invoke(cli, ["replay", "verify", "--json", str(tmp_path / "a.json")], env=env)
    assert ok.exit_code == 0, ok.output
    assert "verified" in ok.output
    again = runner.invoke(cli, ["replay", "verify", "--json", str(tmp_path / "b.json")], env=env)
    assert again.exit_code == 0
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    audit = orjson.loads((tmp_path / "a.json").read_bytes())
    assert audit["ok"] is True
    assert audit["failures"] == []
    head, link = str(audit["head"]), audit["head_link"]
    same = ["replay", "verify", "--expect-head", head, "--expect-link", link]
    assert runner.invoke(cli, same, env=env).exit_code == 0
    beyond_json = tmp_path / "beyond.json"
    beyond = runner.invoke(
        cli,
        ["replay", "verify", "--expect-head", str(int(head) + 1), "--json", str(beyond_json)],
        env=env,
    )
    assert beyond.exit_code == 1
    (failure,) = orjson.loads(beyond_json.read_bytes())["failures"]
    assert failure["check"] == "chain"
    assert "before the expected head" in failure["message"]
    assert runner.invoke(cli, ["replay", "verify", "--expect-link", link], env=env).exit_code == 2
    other_key = runner.invoke(cli, ["replay", "verify"], env={**env, "PPCX_AUDIT_KEY": "x"})
    assert other_key.exit_code == 1
    assert "FAILED" in other_key.output
