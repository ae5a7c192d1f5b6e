"""As of any time, rehydrating Redis, and statements: the log alone rebuilds what was live."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
import redis
from typer.testing import CliRunner

from domain.buyer import Buyer
from domain.clock import ManualClock
from domain.ledger import buyer_account
from domain.schedule import local_periods
from ppcx.bootstrap import Domain, ExchangeRuntime, build_domain, build_exchange
from ppcx.cli import app as cli
from ppcx.settings import Settings
from projections.projector import Projector
from projections.reports import ledger_balances
from projections.statements import statement_from_projection
from projections.store import DATA_TABLES, ProjectionStore
from replay import recovery
from replay.asof import rebuild_as_of
from replay.log import event_name, pages
from replay.rehydrate import rehydrate
from replay.statements import statement_from_log
from tests.replay.conftest import Market, drive, market
from tests.support.clock import START
from tests.support.exchange import (
    buyer_with_target,
    caller,
    ping,
    publisher_and_campaign,
    sync,
)

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
PROJECTED_TABLES = ("projection_position", *DATA_TABLES)  # the schema's digest aside


def _tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    store = ProjectionStore(path)
    try:
        return {
            table: store.con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            for table in PROJECTED_TABLES
        }
    finally:
        store.close()


async def test_state_rebuilt_as_of_t_equals_what_was_live_at_t(
    domain: Domain, runtime: ExchangeRuntime, clock: ManualClock, tmp_path: Path
) -> None:
    m = market(domain, runtime)
    await drive(domain, runtime, clock, m, 30, seed=2)
    # one call left open (posted, ringing) at T: a pending hold
    open_call = await runtime.auctions.ping(ping(m.publisher, m.campaign, caller=caller(999)))
    assert open_call.accepted
    await runtime.call_life.post(open_call.call_id, m.publisher)
    moment = clock.now()
    # what was live at T: the buyers' accounts, and the projections brought up to date then
    live = {}
    for buyer_id in m.buyers:
        b = domain.app.load(Buyer, buyer_id, "buyer_id")
        live[buyer_account(buyer_id)] = (b.debits_posted, b.credits_posted, b.debits_pending)
    live_store = ProjectionStore(tmp_path / "live.duckdb")
    try:
        Projector(live_store).run_from_log(domain.app.store.read_chained)
    finally:
        live_store.close()
    projected_at_t = _tables(tmp_path / "live.duckdb")

    clock.advance(timedelta(seconds=1))
    await drive(domain, runtime, clock, m, 20, seed=3, first_caller=500)  # after T
    await runtime.call_life.answered(open_call.call_id, m.publisher)
    await runtime.call_life.completed(open_call.call_id, 200, m.publisher)

    target = tmp_path / "asof.duckdb"
    summary = rebuild_as_of(domain.app.store.read_chained, moment, target)
    assert summary["open_holds"] == 1
    rebuilt = _tables(target)
    assert rebuilt["calls"]  # not trivially equal
    for table in PROJECTED_TABLES:
        assert rebuilt[table] == projected_at_t[table], table
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


# -- rehydration ---------------------------------------------------------------------------------


@asynccontextmanager
async def _world(settings: Settings, name: str) -> AsyncIterator[tuple[Domain, ExchangeRuntime]]:
    """A store, a clock and an exchange of their own (the same Redis server, its own prefix)."""
    own = settings.model_copy(
        update={
            "data_dir": Path(str(settings.data_dir)) / name,
            "sqlite_dbname": str(Path(str(settings.sqlite_dbname)).with_suffix(f".{name}")),
            "redis_prefix": f"{settings.redis_prefix}{name}",
        }
    )
    domain = build_domain(own, clock=ManualClock(START), group_commit=True)
    seeds = itertools.count(1000)
    assert own.redis_url is not None
    runtime = build_exchange(own, domain, redis_url=own.redis_url, seeds=lambda: next(seeds))
    recovery.ensure(domain.app, runtime.redis_sync, own.redis_prefix, domain.clock.now())
    try:
        yield domain, runtime
    finally:
        await runtime.close()
        domain.close()


TIGHT = {
    # the 60.00 bidder can pay for few calls; the others take one call at a time
    "deposits": ("2000.00", "2000.00", "2000.00", "480.00"),
    "caps": (
        {"hourly": 5, "concurrency": 1},
        {"hourly": 4, "concurrency": 1},
        {"concurrency": 1},
        {"daily": 12},
    ),
}


async def _before(domain: Domain, runtime: ExchangeRuntime) -> tuple[Market, str]:
    """Calls lived through, then one bid won and left open, when Redis is lost."""
    assert isinstance(domain.clock, ManualClock)
    m = market(domain, runtime, tag="rehydrate", **TIGHT)  # type: ignore[arg-type]
    await drive(domain, runtime, domain.clock, m, 24, seed=4)
    held = await runtime.auctions.ping(ping(m.publisher, m.campaign, caller=caller(900)))
    assert held.accepted
    sync(runtime)
    return m, held.call_id


async def _after(
    domain: Domain, runtime: ExchangeRuntime, m: Market, held: str
) -> list[tuple[Any, ...]]:
    """The next auctions and calls; every decision they record, in order."""
    clock = domain.clock
    assert isinstance(clock, ManualClock)
    head = domain.app.store.head()
    life = runtime.call_life
    again = await runtime.auctions.ping(ping(m.publisher, m.campaign, caller=caller(900)))
    assert (again.call_id, again.repeated) == (held, True)  # the unposted bid, not a new one
    await life.post(held, m.publisher)  # the reservation made before the loss is routed
    rng = random.Random(9)
    for n in range(16):
        clock.advance(timedelta(seconds=rng.randint(5, 90)))
        runtime.hot.forget_snapshots()
        result = await runtime.auctions.ping(
            ping(m.publisher, m.campaign, caller=caller(800 + n % 6))
        )
        if result.accepted and not result.repeated and rng.random() < 0.75:
            await life.post(result.call_id, m.publisher)
            await life.answered(result.call_id, m.publisher)
            await life.completed(result.call_id, rng.randint(30, 200), m.publisher)
        if n == 10:
            await life.answered(held, m.publisher)
            await life.completed(held, 120, m.publisher)
        sync(runtime)
    decisions: list[tuple[Any, ...]] = []
    for page in pages(domain.app.store.read_chained, head + 1):
        for _, _, _, topic, state, _ in page:
            assert topic is not None
            assert state is not None
            name = event_name(topic)
            if name in ("Call.AuctionDecided", "Call.NoBuyerFound", "Call.CallBilled"):
                d = orjson.loads(state)
                decisions.append(
                    (
                        name,
                        d.get("winner_target_id") or d.get("target_id"),
                        d.get("price_cents") or d.get("revenue_cents"),
                        d.get("reason"),
                        sorted(d.get("excluded", {}).items()),
                        d.get("skipped"),
                    )
                )
    return decisions


async def test_rehydrated_redis_decides_like_one_that_never_lost_it(
    settings: Settings, redis_client: redis.Redis
) -> None:
    async with _world(settings, "a") as (domain, runtime):  # Redis is never lost
        m, held = await _before(domain, runtime)
        never_lost = await _after(domain, runtime, m, held)
    async with _world(settings, "b") as (domain, runtime):  # Redis is flushed mid-run
        m, held = await _before(domain, runtime)
        prefix = runtime.hot.keys.prefix
        for key in redis_client.scan_iter(match=f"{prefix}:*"):
            redis_client.delete(key)
        summary = rehydrate(domain.app, redis_client, prefix, domain.clock.now())
        assert summary["open_holds"] == 1
        assert summary["unposted_bids"] == 1
        runtime.hot.forget_snapshots()
        rehydrated = await _after(domain, runtime, m, held)
    assert rehydrated == never_lost
    reasons = {r for d in never_lost for _, r in (*d[4], *(d[5] or []))}
    assert {"insufficient_funds", "cap_concurrency"} <= reasons, reasons
    assert any(r.startswith("cap_") and r != "cap_concurrency" for r in reasons), reasons


async def test_rehydrated_redis_holds_what_the_live_one_held(
    domain: Domain,
    runtime: ExchangeRuntime,
    clock: ManualClock,
    settings: Settings,
    redis_client: redis.Redis,
) -> None:
    m = market(domain, runtime)
    await drive(domain, runtime, clock, m, 25, seed=4)
    held = await runtime.auctions.ping(ping(m.publisher, m.campaign, caller=caller(900)))
    assert held.accepted  # an open reservation at the moment Redis is lost
    routed = await runtime.auctions.ping(ping(m.publisher, m.campaign, caller=caller(901)))
    await runtime.call_life.post(routed.call_id, m.publisher)  # and a call ringing
    prefix = settings.redis_prefix
    market_key = f"{prefix}:{{m:main}}"

    def hash_of(key: str) -> dict[str, str]:  # the client answers bytes
        raw = cast(dict[bytes, bytes], redis_client.hgetall(key))
        return {k.decode(): v.decode() for k, v in raw.items()}

    def state() -> dict[str, object]:
        funds = {
            k: int(v)
            for k, v in hash_of(f"{market_key}:funds").items()
            if not k.endswith(":v")  # the follower's bookkeeping, not market state
            and not (k.endswith(":held") and int(v) == 0)
        }  # absent means zero
        raw = hash_of(f"{market_key}:caps")
        caps = {}  # what the scripts read: a count whose period is not the current one is 0
        now = local_periods(clock.now(), "UTC")
        for t in m.targets:
            for count, period in (("h", "hp"), ("d", "dp"), ("m", "mp"), ("s", "sp")):
                current = {"hp": now.hour, "dp": now.day, "mp": now.month, "sp": now.day}[period]
                caps[f"{t}:{count}"] = (
                    int(raw.get(f"{t}:{count}", 0)) if raw.get(f"{t}:{period}") == current else 0
                )
        live = {
            t: redis_client.zrange(f"{market_key}:live:{t}", 0, -1, withscores=True)
            for t in m.targets
        }
        holds = cast(list[bytes], redis_client.zrange(f"{market_key}:expiries", 0, -1))
        reservations = {h: hash_of(f"{market_key}:res:{h.decode()}") for h in holds}
        duplicates = {
            key: hash_of(key) for key in redis_client.scan_iter(match=f"{market_key}:dup:*")
        }
        blocked = redis_client.hgetall(f"{market_key}:blocked")
        pinged = redis_client.get(f"{market_key}:ping:{held.call_id}")
        return {
            "funds": funds,
            "caps": caps,
            "live": live,
            "reservations": reservations,
            "duplicates": duplicates,
            "blocked": blocked,
            "unposted bid": orjson.loads(pinged) if pinged else None,
        }

    sync(runtime)  # the live Redis has seen the whole log (as the follower would by now)
    before = state()
    assert any(before["live"].values())  # type: ignore[attr-defined]
    assert len(before["reservations"]) == 2  # type: ignore[arg-type]
    assert before["duplicates"]
    for key in redis_client.scan_iter(match=f"{prefix}*"):
        redis_client.delete(key)
    summary = rehydrate(domain.app, redis_client, prefix, clock.now())
    assert summary["open_holds"] == 2
    runtime.hot.forget_snapshots()
    after = state()
    for part in before:
        assert after[part] == before[part], part
    # the duplicate index expires a window after the last bill, as it did live
    for key in redis_client.scan_iter(match=f"{market_key}:dup:*"):
        assert 0 < redis_client.pttl(key) <= 86_400_000


async def test_round_robin_cursors_carry_on_where_they_were(
    domain: Domain,
    runtime: ExchangeRuntime,
    clock: ManualClock,
    settings: Settings,
    redis_client: redis.Redis,
) -> None:
    publisher, campaign = publisher_and_campaign(domain, distribution="round_robin")
    for n in range(3):
        buyer_with_target(domain, campaign, bid="45.00", command_id=f"rr-{n}")
    sync(runtime)
    winners = []
    for n in range(7):
        clock.advance(timedelta(seconds=10))
        runtime.hot.forget_snapshots()
        result = await runtime.auctions.ping(ping(publisher, campaign, caller=caller(n)))
        assert result.winner is not None
        winners.append(result.winner.target_id)
        if n == 3:  # Redis is lost after the fourth auction
            for key in redis_client.scan_iter(match=f"{settings.redis_prefix}*"):
                redis_client.delete(key)
            assert (
                rehydrate(domain.app, redis_client, settings.redis_prefix, clock.now())[
                    "round_robin_cursors"
                ]
                == 1
            )
    assert winners[:3] == winners[3:6]  # the rotation went on as if nothing had happened
    assert len(set(winners[:3])) == 3


async def test_statements_by_replay_equal_the_projected_ones(
    domain: Domain, runtime: ExchangeRuntime, clock: ManualClock, tmp_path: Path
) -> None:
    m = market(domain, runtime)
    start = clock.now()
    await drive(domain, runtime, clock, m, 40, seed=5)
    sync(runtime)
    store = ProjectionStore(tmp_path / "p.duckdb")
    try:
        Projector(store).run_from_log(domain.app.store.read_chained)
        middle = start + (clock.now() - start) / 2
        kinds = set()
        for account in [f"buyer:{b}" for b in m.buyers] + [f"publisher:{m.publisher}"]:
            for begins, ends in (
                (start - timedelta(days=1), middle),
                (middle, clock.now() + timedelta(days=1)),
            ):
                projected = statement_from_projection(store.con.cursor(), account, begins, ends)
                replayed = statement_from_log(domain.app.store.read_chained, account, begins, ends)
                assert replayed.to_dict() == projected.to_dict()
                kinds |= {line.kind for line in replayed.lines}
        assert kinds == {"deposit", "post", "reversal"}  # every kind of line was compared
        assert any(
            statement_from_log(
                domain.app.store.read_chained, f"buyer:{b}", start, clock.now() + timedelta(days=1)
            ).billed_calls
            for b in m.buyers
        )
    finally:
        store.close()


async def test_cli_statement_asof_and_rehydrate(
    domain: Domain,
    runtime: ExchangeRuntime,
    clock: ManualClock,
    settings: Settings,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    m = market(domain, runtime)
    start = clock.now()
    await drive(domain, runtime, clock, m, 15, seed=6)
    env = {
        "PPCX_DATA_DIR": str(settings.data_dir),
        "SQLITE_DBNAME": str(settings.sqlite_dbname),
        "PPCX_AUDIT_KEY": str(settings.audit_key),
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "REDIS_URL": str(settings.redis_url),
        "NATS_URL": str(settings.nats_url),
        "PPCX_REDIS_PREFIX": settings.redis_prefix,
        # the test's own JetStream stream: nothing another test relays (or signs) reaches it
        "PPCX_NATS_STREAM": settings.nats_stream,
        "PPCX_NATS_SUBJECT_PREFIX": settings.nats_subject_prefix,
    }
    runner = CliRunner()
    begins, ends = start.isoformat(), (clock.now() + timedelta(hours=1)).isoformat()
    account = f"buyer:{m.buyers[3]}"
    shown = runner.invoke(
        cli,
        ["replay", "statement", "--account", account, "--from", begins, "--to", ends],
        env=env,
    )
    assert shown.exit_code == 0, shown.output
    expected = statement_from_log(
        domain.app.store.read_chained, account, start, clock.now() + timedelta(hours=1)
    )
    assert orjson.loads(shown.output) == expected.to_dict()
    assert expected.billed_calls > 0
    bad = ["replay", "statement", "--account", "cash", "--from", begins, "--to", ends]
    assert runner.invoke(cli, bad, env=env).exit_code == 2
    for unknown, said in (
        ("buyer:buy_nobody", "buyer 'buy_nobody' does not exist"),
        (f"buyer:{m.publisher}", f"buyer '{m.publisher}' does not exist"),  # not a buyer
        (f"publisher:{m.buyers[0]}", f"publisher '{m.buyers[0]}' does not exist"),
    ):
        period = ["--from", begins, "--to", ends]
        refused = runner.invoke(
            cli, ["replay", "statement", "--account", unknown, *period], env=env
        )
        assert refused.exit_code == 1, refused.output
        assert said in " ".join(refused.stderr.split())
        assert refused.stdout == ""
    publisher = ["replay", "statement", "--account", f"publisher:{m.publisher}"]
    shown = runner.invoke(cli, [*publisher, "--from", begins, "--to", ends], env=env)
    assert shown.exit_code == 0, shown.output
    assert orjson.loads(shown.output)["account"] == f"publisher:{m.publisher}"

    target = tmp_path / "close.duckdb"
    closed = runner.invoke(
        cli, ["replay", "asof", "--at", clock.now().isoformat(), "--to", str(target)], env=env
    )
    assert closed.exit_code == 0, closed.output
    assert _tables(target)["calls"]
    naive = ["replay", "asof", "--at", "2026-11-01T00:00:00"]
    assert runner.invoke(cli, naive, env=env).exit_code == 2

    for key in redis_client.scan_iter(match=f"{settings.redis_prefix}*"):
        redis_client.delete(key)
    rebuilt = runner.invoke(cli, ["replay", "rehydrate-redis"], env=env)
    assert rebuilt.exit_code == 0, rebuilt.output
    funds = redis_client.hgetall(f"{settings.redis_prefix}:{{m:main}}:funds")
    assert funds[f"{m.buyers[0]}:posted".encode()]
