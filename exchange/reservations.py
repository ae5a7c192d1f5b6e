"""A reservation in Redis: what the scripts hold for a winner between the auction and the
call's end (`reserve.lua`, `route.lua`, `release.lua`; see `exchange.keys` for the keys)."""

from __future__ import annotations

from enum import StrEnum


class ReservationState(StrEnum):
    """The reservation hash's `state` field, as the scripts write it."""

    RESERVED = "reserved"  # by `reserve.lua`: a won bid, not routed yet
    ROUTED = "routed"  # by `route.lua`: a call on its way, kept for the call's maximum life


class ReleaseMode(StrEnum):
    """How `release.lua` ends a reservation."""

    VOID = "void"  # no call came of it (expired, refused, failed over): counts, spend undone
    END = "end"  # a routed call not billed: the counts stay, the spend is undone
    SETTLE = "settle"  # a billed call: counts and spend stay
