"""`ppcx-tools bench exchange`: ping → decision latency and pings/s through the real exchange
(real Redis, a real SQLite store), next to a bare EVALSHA round trip in the same run.

"Decision" is ping received → winner reserved in Redis (what the publisher waits for before
the durable append); "durable" adds appending every event of the auction (one per bid) and
the winner's hold. Pings run one at a time in one process, each from a new caller.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis
from rich.console import Console

from domain.clock import SystemClock
from domain.geo import Geo
from exchange.ping import PingRequest
from ppcx.bootstrap import Domain, ExchangeRuntime, build_domain, build_exchange
from ppcx.settings import Settings
from ppcx.tuning import settle_garbage_collector
from replay import recovery
from tools.bench.report import Figure, percentile
from tools.market import BuyerSpec, InProcess, MarketSpec, build_market
from tools.sim.rtb_server import Bidder, RtbProcess

BUYERS_MAX = 100
RTB_BIDDERS = 20
RTB_DEADLINE_MS = 150


@dataclass(frozen=True)
class Latencies:
    decision_ms: list[float]
    durable_ms: list[float]
    pings_per_s: float


def _market(domain: Domain, targets: int, rtb_urls: list[str] | None) -> tuple[str, str]:
    """One campaign, up to BUYERS_MAX funded buyers sharing `targets` targets: standing bids,
    or the RTB bidders' URLs."""
    buyers = min(BUYERS_MAX, targets)
    bodies = [
        {"name": f"T{i}", "destination": "+13105550100"}
        | (
            {"rtb_url": rtb_urls[i], "rtb_timeout_ms": RTB_DEADLINE_MS}
            if rtb_urls
            else {"bid": f"{40 + i % 20}.00"}
        )
        for i in range(targets)
    ]
    spec = MarketSpec(
        publishers=[{"name": "Bench publisher"}],
        campaign={
            "name": "Bench",
            "vertical": "legal",
            "publisher_payout": {"fixed": "30.00"},
            "min_margin": "5.00",
            "rtb_deadline_ms": RTB_DEADLINE_MS,
            "duplicate_window_days": 0,
        },
        buyers=[
            BuyerSpec(
                {"name": f"Buyer {n}", "time_zone": "America/New_York"},
                deposit={"amount": "10000000.00", "reference": "bench"},
                targets=bodies[n::buyers],
            )
            for n in range(buyers)
        ],
    )
    built = build_market(InProcess(domain, by="bench"), spec)
    return built.publishers[0].id, built.campaign_id


async def _bare_evalsha(redis_url: str, rounds: int) -> list[float]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        script = client.register_script("return 1")
        await script()
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            await script()
            samples.append((time.perf_counter() - start) * 1000)
        return samples
    finally:
        await client.aclose()


_callers = itertools.count(1_000_000)  # every ping of a run from a new caller


def _caller(n: int) -> str:
    """A distinct valid number per n (below 8,000,000): exchanges 200–999 of area code 310
    (an unassigned one, 0xx or 1xx, would be screened before the auction)."""
    return f"+1310{200 + (n // 10_000) % 800:03d}{n % 10_000:04d}"


async def _pings(runtime: ExchangeRuntime, publisher: str, campaign: str, count: int) -> Latencies:
    decision, durable = [], []
    callers = _callers
    start_all = time.perf_counter()
    for _ in range(count):
        request = PingRequest(
            campaign,
            publisher,
            _caller(next(callers)),
            Geo("CA", "90210", "310"),
            {"source": "bench"},
        )
        start = time.perf_counter()
        result = await runtime.auctions.ping(request)
        durable.append((time.perf_counter() - start) * 1000)
        decision.append(result.decision_ms)
        if not result.accepted:
            raise RuntimeError(f"bench ping not accepted: {result.reason}")
    return Latencies(decision, durable, count / (time.perf_counter() - start_all))


def _scenario(
    settings: Settings, redis_url: str, targets: int, pings: int, rtb_urls: list[str] | None
) -> Latencies:
    with tempfile.TemporaryDirectory(prefix="ppcx-bench-exchange-") as tmp:
        scenario_settings = settings.model_copy(
            update={
                "data_dir": Path(tmp),
                "persistence_module": "eventsourcing.sqlite",
                "sqlite_dbname": str(Path(tmp) / "events.sqlite"),
                "audit_key": "bench",
                "secret_key": "bench",
                "redis_prefix": f"bench{time.time_ns()}",
            }
        )
        domain = build_domain(scenario_settings, clock=SystemClock(), group_commit=True)
        try:
            publisher, campaign = _market(domain, targets, rtb_urls)

            async def run() -> Latencies:
                runtime = build_exchange(scenario_settings, domain, redis_url=redis_url)
                try:
                    recovery.ensure(
                        domain.app,
                        runtime.redis_sync,
                        scenario_settings.redis_prefix,
                        domain.clock.now(),
                    )
                    runtime.sync.catch_up()
                    await _pings(runtime, publisher, campaign, 5)  # warm caches and pools
                    settle_garbage_collector()
                    result = await _pings(runtime, publisher, campaign, pings)
                    await runtime.hot.delete_market_state(["main"])
                    return result
                finally:
                    await runtime.close()

            return asyncio.run(run())
        finally:
            domain.close()


def run(settings: Settings, redis_url: str, console: Console, *, pings: int = 400) -> list[Figure]:
    bare = asyncio.run(_bare_evalsha(redis_url, 2000))
    bare_p50, bare_p99 = percentile(bare, 50), percentile(bare, 99)
    figures = [
        Figure("bare EVALSHA round trip p50", bare_p50, "ms", higher_is_better=False),
        Figure("bare EVALSHA round trip p99", bare_p99, "ms", higher_is_better=False),
    ]
    for targets in (10, 100, 1000):
        console.print(f"exchange: {targets} standing-bid targets, {pings} pings …")
        result = _scenario(settings, redis_url, targets, pings, None)
        target = "≤ 5 ms" if targets == 1000 else ""
        figures += [
            Figure(
                f"{targets} targets: decision p50",
                percentile(result.decision_ms, 50),
                "ms",
                "bare EVALSHA p50",
                bare_p50,
                higher_is_better=False,
            ),
            Figure(
                f"{targets} targets: decision p99",
                percentile(result.decision_ms, 99),
                "ms",
                "bare EVALSHA p99",
                bare_p99,
                target,
                higher_is_better=False,
            ),
            Figure(
                f"{targets} targets: durable ping p99",
                percentile(result.durable_ms, 99),
                "ms",
                "bare EVALSHA p99",
                bare_p99,
                higher_is_better=False,
            ),
            Figure(
                f"{targets} targets: pings/s (sequential, durable)",
                result.pings_per_s,
                "pings/s",
                "bare EVALSHA/s",
                1000 / bare_p50,
            ),
        ]
    console.print(f"exchange: {RTB_BIDDERS} RTB bidders at a {RTB_DEADLINE_MS} ms deadline …")
    bidders = {
        f"b{i}": Bidder(bid=f"{45 + i % 10}.00", delay_ms=5 + (i * 9) % 120, jitter_ms=10)
        for i in range(RTB_BIDDERS - 3)
    }
    bidders |= {
        "late1": Bidder(delay_ms=400),
        "late2": Bidder(delay_ms=250),
        "nobid": Bidder(bid=None),
    }
    with RtbProcess(bidders) as server:
        urls = [server.url(name) for name in bidders]
        rtb = _scenario(settings, redis_url, RTB_BIDDERS, max(100, pings // 4), urls)
    figures += [
        Figure(
            f"{RTB_BIDDERS} RTB bidders: decision p50",
            percentile(rtb.decision_ms, 50),
            "ms",
            "deadline",
            RTB_DEADLINE_MS,
            higher_is_better=False,
        ),
        Figure(
            f"{RTB_BIDDERS} RTB bidders: decision p99",
            percentile(rtb.decision_ms, 99),
            "ms",
            "deadline",
            RTB_DEADLINE_MS,
            f"≤ {RTB_DEADLINE_MS + 10} ms",
            higher_is_better=False,
        ),
    ]
    return figures
