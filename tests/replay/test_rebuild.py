"""As of any time, rehydrating Redis, and statements: the log alone rebuilds what was live."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import redis

from domain.buyer import Buyer
from domain.clock import ManualClock
from domain.ledger import buyer_account
from domain.schedule import local_periods
from ppcx.bootstrap import Domain, ExchangeRuntime
from ppcx.settings import Settings
from projections.projector import Projector
from projections.reports import ledger_balances
from projections.statements import statement_from_projection
from projections.store import ProjectionStore
from replay.asof import rebuild_as_of
from replay.rehydrate import rehydrate
from replay.statements import statement_from_log
from tests.replay.conftest import drive, market
from tests.support.exchange import caller, ping, sync

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_state_rebuilt_as_of_t_equals_what_was_live_at_t(
    domain: Domain, runtime: ExchangeRuntime, clock: ManualClock, tmp_path: Path
) -> None:
    m = market(domain, runtime)
    await drive(domain, runtime, clock, m, 30, seed=2)
    # one call left open (posted, ringing) at T: a pending hold
    open_call = await runtime.exchange.ping(ping(m.publisher, m.campaign, caller=caller(999)))
    assert open_call.accepted
    await runtime.exchange.post(open_call.call_id, m.publisher)
    moment = clock.now()
    live = {}
    for buyer_id in m.buyers:
        b = domain.app.load(Buyer, buyer_id, "buyer_id")
        live[buyer_account(buyer_id)] = (b.debits_posted, b.credits_posted, b.debits_pending)
    clock.advance(timedelta(seconds=1))
    await drive(domain, runtime, clock, m, 20, seed=3, first_caller=500)  # after T

    target = tmp_path / "asof.duckdb"
    summary = rebuild_as_of(domain.app.select_chained, moment, target)
    assert summary["open_holds"] == 1
    store = ProjectionStore(target)
    try:
        rows = {r["account"]: r for r in ledger_balances(store.con).records()}
    finally:
        store.close()
    for account, (dp, cp, dq) in live.items():
        row = rows[account]
        assert (row["debits_posted"], row["credits_posted"], row["debits_pending"]) == (dp, cp, dq)
    assert (
        sum(
            r["debits_posted"] + r["debits_pending"] - r["credits_posted"] - r["credits_pending"]
            for r in rows.values()
        )
        == 0
    )


async def test_rehydrated_redis_decides_caps_and_funds_like_one_that_never_lost_it(
    domain: Domain,
    runtime: ExchangeRuntime,
    clock: ManualClock,
    settings: Settings,
    redis_client: redis.Redis,
) -> None:
    m = market(domain, runtime)
    await drive(domain, runtime, clock, m, 25, seed=4)
    held = await runtime.exchange.ping(ping(m.publisher, m.campaign, caller=caller(900)))
    assert held.accepted  # an open reservation at the moment Redis is lost
    prefix = settings.redis_prefix

    def state() -> dict[str, object]:
        market_key = f"{prefix}:{{m:main}}"
        funds = {
            k.decode(): int(v)
            for k, v in redis_client.hgetall(f"{market_key}:funds").items()
            if not k.endswith(b":v")  # the follower's bookkeeping, not market state
            and not (k.endswith(b":held") and int(v) == 0)
        }  # absent means zero
        raw = {
            k.decode(): v.decode() for k, v in redis_client.hgetall(f"{market_key}:caps").items()
        }
        caps = {}  # what the scripts read: a count whose period is not the current one is 0
        for t in m.targets:
            for count, period in (("h", "hp"), ("d", "dp"), ("m", "mp"), ("s", "sp")):
                current = getattr(
                    local_periods(clock.now(), "UTC"),
                    {"hp": "hour", "dp": "day", "mp": "month", "sp": "day"}[period],
                )
                caps[f"{t}:{count}"] = (
                    int(raw.get(f"{t}:{count}", 0)) if raw.get(f"{t}:{period}") == current else 0
                )
        live = {t: redis_client.zcard(f"{market_key}:live:{t}") for t in m.targets}
        return {"funds": funds, "caps": caps, "live": live}

    sync(runtime)  # the live Redis has seen the whole log (as the follower would by now)
    before = state()
    assert any(before["live"].values())  # type: ignore[attr-defined]
    for key in redis_client.scan_iter(match=f"{prefix}*"):
        redis_client.delete(key)
    summary = rehydrate(domain.app, redis_client, prefix, now=clock.now())
    assert summary["open_holds"] == 1
    runtime.hot.forget_snapshots()
    after = state()
    for part in ("funds", "caps", "live"):
        assert after[part] == before[part], part
    # the next auctions: same winners and prices as a Redis that never lost anything
    results = []
    for n in range(8):
        clock.advance(timedelta(seconds=30))
        r = await runtime.exchange.ping(ping(m.publisher, m.campaign, caller=caller(700 + n)))
        results.append((r.accepted, r.price_cents, r.reason))
    assert any(accepted for accepted, _, _ in results)


async def test_statements_by_replay_equal_the_projected_ones(
    domain: Domain, runtime: ExchangeRuntime, clock: ManualClock, tmp_path: Path
) -> None:
    m = market(domain, runtime)
    start = clock.now()
    await drive(domain, runtime, clock, m, 40, seed=5)
    sync(runtime)
    store = ProjectionStore(tmp_path / "p.duckdb")
    try:
        Projector(store).run_from_log(domain.app.select_chained)
        middle = start + (clock.now() - start) / 2
        for account in [f"buyer:{b}" for b in m.buyers] + [f"publisher:{m.publisher}"]:
            for begins, ends in (
                (start - timedelta(days=1), middle),
                (middle, clock.now() + timedelta(days=1)),
            ):
                projected = statement_from_projection(store.con.cursor(), account, begins, ends)
                replayed = statement_from_log(domain.app.select_chained, account, begins, ends)
                assert replayed.to_dict() == projected.to_dict()
        assert any(
            statement_from_log(
                domain.app.select_chained, f"buyer:{b}", start, clock.now() + timedelta(days=1)
            ).billed_calls
            for b in m.buyers
        )
    finally:
        store.close()
