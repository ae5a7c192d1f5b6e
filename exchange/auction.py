"""The auction decision: pure, versioned, deterministic under a recorded seed.

`rank(mode, bids, floor_cents, seed, rr_cursor)` ranks the bids that reach the floor:

* `auction` — highest bid first; ties by higher priority, then a seeded weighted draw;
* `waterfall` — higher priority first; ties by higher bid, then the draw;
* `round_robin` — bids in target-id order, rotated by the campaign's cursor;
* `weighted` — a seeded weighted random order (weight w is w times as likely to lead).

The draw is Efraimidis–Spirakis: each bid's key is `u ** (1 / weight)`, where `u` is a
uniform number derived from BLAKE2b(seed, target id) — a function of the inputs alone, so the
same inputs give the same ranking in any order, and keys are computed only for the bids that
can reach the top of the ranking. The winner pays its own bid. Replay re-runs this function
with the inputs `AuctionDecided` recorded; a change of behaviour must bump
`AUCTION_RULES_VERSION` (stored as `rule_version`) and keep the old version callable.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Sequence
from operator import itemgetter
from typing import Any, NamedTuple

from domain.campaign import DISTRIBUTIONS, Distribution
from domain.invariant import invariant

AUCTION_RULES_VERSION = 1
MODES = DISTRIBUTIONS
_TWO_64 = float(1 << 64)


class Bid(NamedTuple):
    target_id: str
    buyer_id: str
    amount_cents: int
    priority: int
    weight: int


def draw_key(seed: int, bid: Bid) -> float:
    digest = hashlib.blake2b(f"{seed}:{bid.target_id}".encode(), digest_size=8).digest()
    u = (int.from_bytes(digest, "big") + 1) / (_TWO_64 + 1)  # in (0, 1)
    return u if bid.weight <= 1 else u ** (1.0 / bid.weight)


_BY_BID = itemgetter(2, 3)  # (amount_cents, priority)
_BY_PRIORITY = itemgetter(3, 2)  # (priority, amount_cents)


def _ranked(
    valid: list[Bid], seed: int, primary: itemgetter[tuple[int, int]], limit: int | None
) -> list[Bid]:
    """Sort by `primary` (descending), then by draw key (descending); draw keys are computed
    only for the bids whose primary key reaches the limit-th best."""
    candidates = valid
    if limit is not None and len(valid) > limit:
        threshold = heapq.nlargest(limit, map(primary, valid))[-1]
        candidates = [b for b in valid if primary(b) >= threshold]
    keys = {b.target_id: draw_key(seed, b) for b in candidates}

    def order(b: Bid) -> tuple[Any, ...]:
        first, second = primary(b)
        return (-first, -second, -keys[b.target_id])

    ranking = sorted(candidates, key=order)
    return ranking if limit is None else ranking[:limit]


def rank(
    mode: str,
    bids: Sequence[Bid],
    floor_cents: int,
    seed: int,
    rr_cursor: int = 0,
    rule_version: int = AUCTION_RULES_VERSION,
    limit: int | None = None,
) -> list[Bid]:
    """The ranking (best first) of the bids at or above the floor; with `limit`, exactly its
    first `limit` entries."""
    invariant(rule_version == AUCTION_RULES_VERSION, f"unknown auction rule version {rule_version}")
    invariant(mode in MODES, f"unknown distribution mode {mode!r}")
    invariant(len({b.target_id for b in bids}) == len(bids), "one bid per target")
    valid = [b for b in bids if b.amount_cents >= floor_cents]
    if not valid:
        return []
    if mode == Distribution.AUCTION:
        ranking = _ranked(valid, seed, _BY_BID, limit)
    elif mode == Distribution.WATERFALL:
        ranking = _ranked(valid, seed, _BY_PRIORITY, limit)
    elif mode == Distribution.ROUND_ROBIN:
        ordered = sorted(valid, key=lambda b: b.target_id)
        start = rr_cursor % len(ordered)
        ranking = (ordered[start:] + ordered[:start])[:limit]
    else:
        keys = {b.target_id: draw_key(seed, b) for b in valid}
        ranking = sorted(valid, key=lambda b: -keys[b.target_id])[:limit]
    invariant(all(b.amount_cents >= floor_cents for b in ranking), "nothing below the floor")
    return ranking
