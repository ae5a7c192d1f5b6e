"""A reservation in Redis: what the scripts hold for a winner between the auction and the
call's end (`reserve.lua`, `route.lua`, `release.lua`; see `exchange.keys` for the keys)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from domain.ids import new_id

if TYPE_CHECKING:  # the Redis adapter names this module's modes at run time
    from domain.call_state import Candidate
    from exchange.hotstate import HotState, ReserveStatus
    from exchange.market import MarketSnapshot


class ReservationState(StrEnum):
    """The reservation hash's `state` field, as the scripts write it."""

    RESERVED = "reserved"  # by `reserve.lua`: a won bid, not routed yet
    ROUTED = "routed"  # by `route.lua`: a call on its way, kept for the call's maximum life


class ReleaseMode(StrEnum):
    """How `release.lua` ends a reservation."""

    VOID = "void"  # no call came of it (expired, refused, failed over): counts, spend undone
    END = "end"  # a routed call not billed: the counts stay, the spend is undone
    SETTLE = "settle"  # a billed call: counts and spend stay


class Releases(Protocol):
    """What can release a reservation (`exchange.hotstate.HotState`)."""

    async def release(
        self, market: str, target_id: str, buyer_id: str, hold_id: str, mode: ReleaseMode
    ) -> bool: ...


@asynccontextmanager
async def released_on_error(
    hot: Releases, market: str, target_id: str, buyer_id: str, hold_id: str
) -> AsyncIterator[None]:
    """Release the reservation (`void`: no call came of it) when the block raises anything —
    the store refusing the hold, a failed append, a cancelled request — then let the error
    go on. Invariant 4: an auction reserves in Redis first, then appends its events; if the
    append fails, the reservation is released."""
    try:
        yield
    except BaseException:
        await hot.release(market, target_id, buyer_id, hold_id, ReleaseMode.VOID)
        raise


async def reserve(
    hot: HotState,
    snapshot: MarketSnapshot,
    candidate: Candidate,
    call_id: str,
    at: datetime,
    expires_at: datetime,
) -> tuple[str, ReserveStatus]:
    """Reserve a ranked candidate for a call under a new hold id (the auction's winner, or a
    failover's next bidder) → the hold id and what the script answered."""
    target = snapshot.targets[candidate.target_id]
    buyer = snapshot.buyers.get(target.buyer_id)
    hold_id = new_id("hold")
    status = await hot.reserve(
        snapshot.market,
        target,
        buyer.time_zone if buyer else "UTC",
        hold_id,
        call_id,
        candidate.price_cents,
        at,
        expires_at,
    )
    return hold_id, status
