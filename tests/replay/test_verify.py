"""`replay verify` on a real log: clean logs pass (byte-identical reports), and tampering —
an edited amount, a deleted, swapped or forged event — is detected with its position."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from domain.chain import chain_key
from domain.clock import ManualClock
from ppcx.bootstrap import Domain, ExchangeRuntime
from ppcx.cli import app as cli
from ppcx.settings import Settings
from replay.books import Books
from replay.log import event_name, pages
from replay.verify import Report, verify
from tests.replay.conftest import drive, market
from tests.support.log import ledger_from_log

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def _verify(settings: Settings, domain: Domain) -> Report:
    assert settings.audit_key is not None
    return verify(domain.app.select_chained, chain_key(settings.audit_key))


def _rows(db: Path) -> list[tuple[int, str, bytes]]:
    with sqlite3.connect(db) as con:
        return con.execute(
            "SELECT rowid, topic, state FROM stored_events ORDER BY rowid"
        ).fetchall()


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
    assert first.checked["billing"] > 20
    assert first.checked["balances"] > 50
    assert first.to_json() == _verify(settings, logged).to_json()


async def test_the_fast_books_agree_with_the_domain_ledger(logged: Domain) -> None:
    books = Books()
    for page in pages(logged.app.select_chained):
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
    db = Path(str(settings.sqlite_dbname))
    rowid, _topic, state = next(r for r in _rows(db) if event_name(r[1]) == "Call.CallBilled")
    data = orjson.loads(state)
    # a careful forger keeps revenue = payout + margin; the bill no longer matches the price
    data["revenue_cents"] += 100
    data["margin_cents"] += 100
    with sqlite3.connect(db) as con:
        con.execute(
            "UPDATE stored_events SET state = ? WHERE rowid = ?", (orjson.dumps(data), rowid)
        )
    report = _verify(settings, logged)
    assert not report.ok
    assert (rowid, "chain") in {(f.position, f.check) for f in report.failures}
    assert any(f.position == rowid and f.check == "billing" for f in report.failures)


async def test_a_deleted_event_is_detected(logged: Domain, settings: Settings) -> None:
    db = Path(str(settings.sqlite_dbname))
    rowid = next(r[0] for r in _rows(db) if event_name(r[1]) == "Buyer.HoldPosted")
    with sqlite3.connect(db) as con:
        con.execute("DELETE FROM stored_events WHERE rowid = ?", (rowid,))
    report = _verify(settings, logged)
    assert not report.ok
    positions = {(f.position, f.check) for f in report.failures}
    assert (rowid, "chain") in positions  # the gap is named
    assert (rowid + 1, "chain") in positions  # and the next link no longer matches


async def test_swapped_events_are_detected(logged: Domain, settings: Settings) -> None:
    db = Path(str(settings.sqlite_dbname))
    rows = _rows(db)
    a, b = rows[40], rows[41]
    with sqlite3.connect(db) as con:
        for (rowid, _, _), (_, topic, state) in ((a, b), (b, a)):
            con.execute(
                "UPDATE stored_events SET topic = ?, state = ? WHERE rowid = ?",
                (topic, state, rowid),
            )
    report = _verify(settings, logged)
    chain = {f.position for f in report.failures if f.check == "chain"}
    assert {a[0], b[0]} <= chain


async def test_a_forged_event_is_detected(logged: Domain, settings: Settings) -> None:
    db = Path(str(settings.sqlite_dbname))
    rows = _rows(db)
    rowid, _topic, _state = next(r for r in rows if event_name(r[1]) == "Buyer.FundsDeposited")
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
    assert any(f.position == last + 1 and f.check == "chain" for f in report.failures)


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
    again = runner.invoke(cli, ["replay", "verify", "--json", str(tmp_path / "b.json")], env=env)
    assert again.exit_code == 0
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    head = orjson.loads((tmp_path / "a.json").read_bytes())["head"]
    wrong = runner.invoke(cli, ["replay", "verify", "--expect-head", str(head + 1)], env=env)
    assert wrong.exit_code == 1
    other_key = runner.invoke(cli, ["replay", "verify"], env={**env, "PPCX_AUDIT_KEY": "x"})
    assert other_key.exit_code == 1
    assert "FAILED" in other_key.output
