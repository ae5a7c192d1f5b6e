"""A deterministic mix of call lives through the real handlers: a realistic log for tests."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

from domain.clock import ManualClock
from domain.commands import (
    CompleteCall,
    ExpirePing,
    FailOver,
    PostCall,
    RecordAnswer,
)
from domain.errors import DomainError
from domain.ids import new_id
from handlers import parse
from tests.support.market import Market


def drive_calls(market: Market, clock: ManualClock, calls: int, seed: int = 1) -> Counter[str]:
    """Run `calls` pings through varied lives; returns how many of each kind ran."""
    rng = random.Random(seed)
    d = market.domain.calls
    kinds: Counter[str] = Counter()
    for n in range(calls):
        clock.advance(timedelta(minutes=rng.randint(1, 40)))
        order = rng.sample(market.targets, k=len(market.targets))
        kind = rng.choices(
            ["billed", "short", "failover", "none", "expired", "dispute"],
            weights=[50, 15, 10, 8, 7, 10],
        )[0]
        if kind == "none":
            market.auction([], caller_hash=f"c{n}")
            kinds[kind] += 1
            continue
        try:
            won = market.auction(order, caller_hash=f"c{rng.randint(0, calls)}", ttl_s=60)
        except DomainError:
            kinds["refused"] += 1
            continue
        call_id = won.call_id
        if kind == "expired":
            clock.advance(timedelta(seconds=61))
            d.expire_ping(ExpirePing(call_id))
            kinds[kind] += 1
            continue
        d.post_call(PostCall(call_id))
        if kind == "failover" and len(order) > 1:
            d.fail_over(FailOver(call_id, "no_answer", order[1], new_id("hold")))
        d.record_answer(RecordAnswer(call_id))
        duration = rng.randint(20, 85) if kind == "short" else rng.randint(95, 900)
        clock.advance(timedelta(seconds=duration))
        billing = d.complete_call(CompleteCall(call_id, duration))
        kinds[kind if billing.billable or kind == "short" else "duplicate"] += 1
        if billing.billable and rng.random() < 0.3:
            d.convert_call(
                parse.convert_call(call_id=call_id, by="buyer", value=f"{rng.randint(50, 500)}.00")
            )
        if billing.billable and kind == "dispute":
            dispute_id = d.dispute_call(
                parse.dispute_call(call_id=call_id, reason="wrong number", by="buyer")
            )
            d.resolve_dispute(
                parse.resolve_dispute(
                    call_id=call_id,
                    dispute_id=dispute_id,
                    accept=rng.random() < 0.5,
                    note="checked",
                    by="finance",
                )
            )
    return kinds
