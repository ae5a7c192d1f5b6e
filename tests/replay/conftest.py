"""A log made by the real exchange (auctions decided by the versioned function, holds
reserved in Redis) over a small market, for replay tests."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from domain.call_state import FailoverReason
from domain.clock import ManualClock
from domain.errors import DomainError
from handlers import parse
from ppcx.bootstrap import Domain, ExchangeRuntime
from tests.exchange.conftest import anyio_backend, domain, runtime  # noqa: F401 - shared fixtures
from tests.support.exchange import buyer_spec, caller, ping, sync
from tests.support.market import CAMPAIGN
from tools.market import InProcess, MarketSpec, build_market


@dataclass
class Market:
    publisher: str
    campaign: str
    buyers: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)


def market(
    domain: Domain,
    runtime: ExchangeRuntime,
    *,
    tag: str = "m",
    deposits: tuple[str, ...] = ("2000.00", "2000.00", "2000.00", "2000.00"),
    caps: tuple[dict[str, int], ...] = ({"hourly": 6},) * 4,
    **target: Any,
) -> Market:
    """Four buyers bidding 45, 52, 45 and 60 on one campaign; target ids derive from `tag`,
    so two stores built with the same tag rank (and draw) the same way."""
    spec = MarketSpec(
        {**CAMPAIGN, "duplicate_window_days": 1, "command_id": f"{tag}-campaign"},
        buyers=[
            buyer_spec(
                bid=bid,
                deposit=deposits[n],
                destination=f"+131055501{n:02d}",
                caps=caps[n],
                command_id=f"{tag}-target-{n}",
                **target,
            )
            for n, bid in enumerate(("45.00", "52.00", "45.00", "60.00"))
        ],
    )
    built = build_market(InProcess(domain), spec)
    sync(runtime)
    return Market(
        built.publishers[0].id,
        built.campaign_id,
        [buyer.id for buyer in built.buyers],
        [target_id for target_id, _ in built.targets],
    )


async def drive(
    domain: Domain,
    runtime: ExchangeRuntime,
    clock: ManualClock,
    m: Market,
    calls: int,
    seed: int = 1,
    first_caller: int = 0,
) -> int:
    """Varied call lives through the real exchange; returns how many were billed."""
    rng = random.Random(seed)
    life = runtime.call_life
    billed = 0
    for _n in range(calls):
        clock.advance(timedelta(seconds=rng.randint(20, 400)))
        number = caller(first_caller + rng.randrange(max(calls // 2, 1)))
        runtime.hot.forget_snapshots()  # funds as Redis has them now, not 100 ms ago: the
        # same decisions in every run, whatever the machine's speed
        result = await runtime.auctions.ping(ping(m.publisher, m.campaign, caller=number))
        if not result.accepted or rng.random() < 0.1:
            continue  # no buyer, or never posted: the bid expires
        await life.post(result.call_id, m.publisher)
        if rng.random() < 0.2:
            answer = await life.failed_over(result.call_id, FailoverReason.NO_ANSWER, m.publisher)
            if answer.destination is None:
                continue
        await life.answered(result.call_id, m.publisher)
        outcome = await life.completed(result.call_id, rng.randint(20, 300), m.publisher)
        sync(runtime)
        if outcome.billable:
            billed += 1
            if rng.random() < 0.15:
                try:
                    dispute = domain.calls.dispute_call(
                        parse.dispute_call(call_id=result.call_id, reason="wrong", by="buyer")
                    )
                    domain.calls.resolve_dispute(
                        parse.resolve_dispute(
                            call_id=result.call_id,
                            dispute_id=dispute,
                            accept=rng.random() < 0.5,
                            note="ok",
                            by="finance",
                        )
                    )
                except DomainError:
                    pass
    clock.advance(timedelta(minutes=5))
    await runtime.sweeper.sweep()
    return billed
