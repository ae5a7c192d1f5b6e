"""Projections against real DuckDB files and the real event log."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest

from domain.call import Call
from ppcx.bootstrap import Domain
from projections.relay import message
from projections.reports import ledger_balances, run_report
from projections.store import ProjectionStore
from tests.projections.conftest import dump, project_log
from tests.support.log import ledger_from_log, notifications

pytestmark = pytest.mark.integration


def _log_totals(domain: Domain) -> Counter[str]:
    totals: Counter[str] = Counter()
    for n in notifications(domain.app):
        name = n.topic.rpartition(":")[2]
        state = orjson.loads(n.state)
        totals[name] += 1
        if name == "Call.CallBilled":
            totals["revenue"] += state["revenue_cents"]
            totals["payout"] += state["payout_cents"]
            totals["margin"] += state["margin_cents"]
        if name == "Call.DisputeResolved" and state["accepted"]:
            totals["reversed"] += 1
    return totals


def test_report_totals_equal_totals_from_the_log(market_log: Domain, tmp_path: Path) -> None:
    store = project_log(market_log, tmp_path / "a.duckdb")
    totals = _log_totals(market_log)
    con = store.con
    pnl = run_report(con, "pnl", group_by=["campaign"]).records()
    assert len(pnl) == 1
    # accepted disputes give the money back with new transfers; the calls table nets them out
    assert _scalar(store, "SELECT count(*) FROM calls WHERE reversed") == totals["reversed"]
    refunded = _scalar(
        store,
        "SELECT coalesce(sum(credit_cents), 0) FROM ledger_entries "
        "WHERE kind = 'reversal' AND account LIKE 'buyer:%'",
    )
    clawed_back = _scalar(
        store,
        "SELECT coalesce(sum(debit_cents), 0) FROM ledger_entries "
        "WHERE kind = 'reversal' AND account LIKE 'publisher:%'",
    )
    billed = store.con.execute(
        "SELECT sum(revenue_cents), sum(payout_cents) FROM calls WHERE NOT reversed"
    ).fetchone()
    assert billed == (totals["revenue"] - refunded, totals["payout"] - clawed_back)
    assert pnl[0]["revenue_cents"] == billed[0]
    assert pnl[0]["billable"] == totals["Call.CallBilled"] - totals["reversed"]
    assert pnl[0]["calls"] == totals["Call.CallPosted"]
    assert pnl[0]["revenue_cents"] == pnl[0]["payout_cents"] + pnl[0]["margin_cents"]
    funnel = run_report(con, "funnel").records()[0]
    assert funnel["pings"] == totals["Call.PingReceived"]
    assert funnel["bids"] == totals["Call.BidReceived"]
    assert funnel["wins"] == totals["Call.AuctionDecided"]
    assert funnel["posts"] == totals["Call.CallPosted"]
    assert funnel["answers"] == totals["Call.CallAnswered"]
    by_day = run_report(con, "pnl", group_by=["day", "buyer"]).records()
    assert sum(r["revenue_cents"] for r in by_day) == pnl[0]["revenue_cents"]
    attribution = run_report(con, "attribution", group_by=["source", "keyword"]).records()
    assert sum(r["calls"] for r in attribution) == totals["Call.CallPosted"]
    assert sum(r["revenue_cents"] for r in attribution) == pnl[0]["revenue_cents"]
    counts = con.execute(
        "SELECT (SELECT count(*) FROM pings), (SELECT count(*) FROM bids), "
        "(SELECT count(*) FROM calls)"
    ).fetchone()
    assert counts == (
        totals["Call.PingReceived"],
        totals["Call.BidReceived"] + totals["Call.BidRejected"] + totals["Call.BidTimedOut"],
        totals["Call.PingReceived"],
    )


def _scalar(store: ProjectionStore, query: str) -> int:
    row = store.con.execute(query).fetchone()
    assert row is not None
    return int(row[0])


def test_ledger_projection_balances_equal_the_domain_ledger(
    market_log: Domain, tmp_path: Path
) -> None:
    store = project_log(market_log, tmp_path / "a.duckdb")
    expected = ledger_from_log(market_log.app)
    rows = ledger_balances(store.con).records()
    assert {r["account"] for r in rows} == set(expected.balances)
    for r in rows:
        balance = expected.balances[r["account"]]
        assert (
            r["debits_posted"],
            r["credits_posted"],
            r["debits_pending"],
            r["credits_pending"],
        ) == (
            balance.debits_posted,
            balance.credits_posted,
            balance.debits_pending,
            balance.credits_pending,
        )
    total = sum(
        r["debits_posted"] - r["credits_posted"] + r["debits_pending"] - r["credits_pending"]
        for r in rows
    )
    assert total == 0


def test_rebuild_gives_identical_tables(market_log: Domain, tmp_path: Path) -> None:
    store = project_log(market_log, tmp_path / "a.duckdb", batch_events=97)
    before = dump(store)
    assert sum(len(v) for v in before.values()) > 500
    store.drop()
    assert store.position() == 0
    from projections.projector import Projector

    Projector(store).run_from_log(market_log.app.store.read_chained, batch_events=5000)
    assert dump(store) == before  # and with a different batch size


def test_redelivered_events_change_nothing(market_log: Domain, tmp_path: Path) -> None:
    store = project_log(market_log, tmp_path / "a.duckdb")
    before = dump(store)
    rows = market_log.app.store.read_chained(1, 500)
    assert store.apply_rows(rows) == 0  # from the log again
    assert store.apply_messages([message(r) for r in rows]) == 0  # redelivered by JetStream
    assert dump(store) == before


def test_every_projected_call_matches_its_aggregate(market_log: Domain, tmp_path: Path) -> None:
    """An oracle independent of the projector: the Call aggregates themselves."""
    store = project_log(market_log, tmp_path / "a.duckdb")
    rows = store.con.execute(
        "SELECT call_id, accepted, posted, answered, billed, reversed, revenue_cents, "
        "payout_cents, margin_cents, buyer_id, duration_s, converted, disputed, expired, "
        "bid_count, not_billed_reason FROM calls"
    ).fetchall()
    assert len(rows) == 120
    for (
        call_id,
        accepted,
        posted,
        answered,
        billed,
        reversed_,
        revenue,
        payout,
        margin,
        buyer_id,
        duration,
        converted,
        disputed,
        expired,
        bid_count,
        reason,
    ) in rows:
        call = market_log.app.load(Call, call_id, "call_id")
        billing = call.billing
        assert accepted == (call.decision is not None), call_id
        assert expired == (call.status == "expired")
        assert posted == (call.attempt > 0)
        assert answered == call.answered
        assert bid_count == len(call.bid_targets)
        assert converted == call.converted
        assert disputed == bool(call.disputes)
        assert reversed_ == (call.status == "reversed")
        if billing is not None:
            assert billed == billing.billable
            assert duration == call.duration_s
            if not billing.billable:
                assert reason == billing.reason
        money = (
            (0, 0, 0)
            if reversed_ or billing is None
            else (billing.revenue_cents, billing.payout_cents, billing.margin_cents)
        )
        assert (revenue, payout, margin) == money
        if call.route is not None:
            assert buyer_id == call.route.buyer_id


def test_as_of_balances_are_reproducible(market_log: Domain, tmp_path: Path) -> None:
    store = project_log(market_log, tmp_path / "a.duckdb")
    middle = store.con.execute(
        "SELECT occurred_at FROM ledger_entries ORDER BY occurred_at LIMIT 1 OFFSET 200"
    ).fetchone()
    assert middle is not None
    early = ledger_balances(store.con, as_of=middle[0]).records()
    late = ledger_balances(store.con).records()
    assert early != late
    assert (
        sum(
            r["debits_posted"] - r["credits_posted"] + r["debits_pending"] - r["credits_pending"]
            for r in early
        )
        == 0
    )
