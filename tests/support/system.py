"""The checks that must hold after any single fault of a served system (`tools.sim.served`):
every acknowledged request in the log exactly once, no cap or fund limit exceeded, the relay
and the projections at the head, `replay verify` passing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson

from eventstore.application import PPCXApplication
from ppcx.bootstrap import build_application
from tools.sim.served import CONCURRENCY_CAP, System, Traffic, TrafficMarket, until


def _events(app: PPCXApplication) -> Iterator[tuple[str, str, dict[str, Any]]]:
    start = 1
    while True:
        rows = app.store.read_chained(start, 5000)
        if not rows:
            return
        for _, originator, _, topic, state, _ in rows:
            if topic is not None and state is not None and originator is not None:
                yield topic.partition(":")[2], originator, orjson.loads(state)
        start = rows[-1][0] + 1


def check_log(system: System, traffic: Traffic, market: TrafficMarket) -> None:
    """Every acknowledged request in the log exactly once; no cap or fund limit exceeded."""
    app = build_application(system.settings())
    try:
        pinged: Counter[str] = Counter()
        posted: Counter[str] = Counter()
        completed: Counter[str] = Counter()
        open_on_capped: set[str] = set()
        most_on_capped = 0
        lowest_available: dict[str, int] = {}
        for name, originator, state in _events(app):
            if name == "Call.PingReceived":
                pinged[originator] += 1
            elif name == "Call.CallPosted":
                posted[originator] += 1
            elif name == "Call.CallCompleted":
                completed[originator] += 1
            elif (
                name == "Call.AuctionDecided" and state["winner_target_id"] == market.capped_target
            ) or (name == "Call.CallRouted" and state["target_id"] == market.capped_target):
                open_on_capped.add(state["hold_id"])
            elif name in ("Buyer.HoldPosted", "Buyer.HoldVoided"):
                open_on_capped.discard(state["hold_id"])
            if name.startswith("Buyer.") and "balance" in state:
                balance = state["balance"]
                available = (
                    balance["credits_posted"] - balance["debits_posted"] - balance["debits_pending"]
                )
                lowest_available[originator] = min(
                    lowest_available.get(originator, available), available
                )
            most_on_capped = max(most_on_capped, len(open_on_capped))
    finally:
        app.close()
    missing = [p for p in traffic.pings if pinged[p] != 1]
    assert not missing, f"acknowledged pings not in the log exactly once: {missing[:5]}"
    assert all(posted[c] == 1 for c in traffic.posts), "an acknowledged post is missing"
    assert all(completed[c] == 1 for c in traffic.completions), "a completion is missing"
    assert most_on_capped <= CONCURRENCY_CAP, f"{most_on_capped} calls at once on a cap of 2"
    for buyer, lowest in lowest_available.items():
        assert lowest >= -market.buyer_limits.get(buyer, 0), f"{buyer} went to {lowest}"


def check_caught_up(system: System) -> None:
    """The relay and the projections reach the store's head."""
    until(
        lambda: (
            (lag := system.readyz()["lag"]) is not None
            and lag["relay_events"] == 0
            and lag["projection_events"] == 0
        ),
        "relay and projections at the head",
    )


def check_verify(system: System) -> None:
    done = system.ppcx("replay", "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "checked against the checkpoint from" in done.stdout, done.stdout


def check_answers(traffic: Traffic, *, connection_errors_allowed: bool = False) -> None:
    """Only the answers an operator may see during a fault: no 500, no dropped connection
    (except while an API worker is killed)."""
    errors = {k: v for k, v in traffic.statuses.items() if k.endswith(("500", "502", "504"))}
    assert not errors, errors
    if not connection_errors_allowed:
        assert traffic.connection_errors == 0, traffic.connection_errors
