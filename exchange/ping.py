"""A ping and what it gets: the request, the result, and the bid the exchange keeps in Redis
until the call is posted (a second ping of the same caller, campaign and publisher gets it
back: `exchange.keys.Keys.ping`).

Two writers build the kept bid — the auction when it is won, and `replay.rehydrate` from the
log after Redis was lost — so it is one type, `BidState`, and both write the same bytes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from domain.call_state import Candidate, NoBuyerReason, Route
from domain.clock import to_ms
from domain.consent import Consent
from domain.geo import Geo
from domain.screening import CallerLine, Screen


@dataclass(frozen=True, slots=True)
class PingRequest:
    campaign_id: str
    publisher_id: str
    caller_number: str | None
    geo: Geo
    attribution: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    call_id: str | None = None
    consent: Consent | None = None  # the caller's consent references, as the publisher sent
    # its publisher's rate-limit token is already taken (an RTB ping: by `static_number`)
    limit_taken: bool = False
    # the caller's number classified where it was parsed (None: classified by the exchange)
    caller_line: CallerLine | None = None


@dataclass(frozen=True, slots=True)
class PingResult:
    call_id: str
    accepted: bool
    reason: NoBuyerReason | None
    price_cents: int | None
    payout_cents: int | None
    expires_at: datetime | None
    bid_count: int
    repeated: bool = False
    winner: Route | None = None  # with the hold of its funds
    decision_ms: float = 0.0  # ping received → winner reserved (before the durable append)
    bids_timed_out: int = 0  # real-time bidders that missed the deadline (metrics)
    screen: Screen | None = None  # the screen that refused it (reason SCREENED)


@dataclass(frozen=True, slots=True)
class BidState:
    """An accepted ping's bid: the winner's route (with its hold), its price and the payout
    offered, until when, how many bidders bid, and the publisher it was made for."""

    publisher_id: str
    winner: Route
    expires_at: datetime
    bid_count: int

    @classmethod
    def won(
        cls, publisher_id: str, winner: Candidate, hold_id: str, expires_at: datetime, bids: int
    ) -> BidState:
        return cls(publisher_id, Route.award(winner, hold_id), expires_at, bids)

    @property
    def expires_ms(self) -> int:
        return to_ms(self.expires_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": True,
            "publisher_id": self.publisher_id,
            "price_cents": self.winner.price_cents,
            "payout_cents": self.winner.payout_cents,
            "expires_at": self.expires_at.isoformat(),
            "expires_ms": self.expires_ms,
            "bid_count": self.bid_count,
            "winner": self.winner.to_json(),
        }

    def dumps(self) -> bytes:
        return orjson.dumps(self.to_json())

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BidState | None:
        """The stored bid; None for a state that is not an accepted bid of a known publisher."""
        if not data.get("accepted") or "publisher_id" not in data:
            return None
        return cls(
            data["publisher_id"],
            Route.from_json(data["winner"]),
            datetime.fromisoformat(data["expires_at"]),
            data["bid_count"],
        )
