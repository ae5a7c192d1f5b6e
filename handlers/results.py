"""What the call handlers answer: small frozen values, one per kind of outcome, instead of
dicts whose keys each caller had to know. The billing decision is the domain's own
`domain.billing.BillingDecision`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.call_state import CallStatus, Candidate, Hold, PostRefusal, Route


@dataclass(frozen=True, slots=True)
class AuctionOutcome:
    """The call an auction recorded: won (its winner's route, with the hold, until the bid
    expires) or closed without a buyer."""

    call_id: str
    status: CallStatus
    winner: Route | None
    expires_at: datetime | None

    @property
    def accepted(self) -> bool:
        return self.winner is not None


@dataclass(frozen=True, slots=True)
class Routed:
    """A posted call on its way: the attempt and where it goes."""

    call_id: str
    attempt: int
    route: Route

    @property
    def destination(self) -> str:
        return self.route.destination


@dataclass(frozen=True, slots=True)
class RefusedPost:
    """A post refused (the caller was blocked after the ping): nothing is routed, and the
    winner's hold is voided."""

    call_id: str
    reason: PostRefusal
    hold_id: str
    hold: Hold


PostOutcome = Routed | RefusedPost


@dataclass(frozen=True, slots=True)
class FailoverOutcome:
    """The next attempt of a call that failed over, or none (`next` None: the call ended
    unbilled)."""

    call_id: str
    attempt: int
    next: Candidate | None

    @property
    def destination(self) -> str | None:
        return self.next.destination if self.next is not None else None


@dataclass(frozen=True, slots=True)
class DisputeResolution:
    dispute_id: str
    accepted: bool
    reversal_transfer_id: str | None  # the transfer that reversed the bill, when accepted


@dataclass(frozen=True, slots=True)
class DepositReceipt:
    """A deposit booked: its transfer and the buyer's available funds after it. Kept in the
    command's `CommandReceipt` (as `to_json()`), so a repeated command answers the same."""

    transfer_id: str
    available_cents: int

    def to_json(self) -> dict[str, Any]:
        return {"transfer_id": self.transfer_id, "available_cents": self.available_cents}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DepositReceipt:
        return cls(data["transfer_id"], data["available_cents"])
