"""The block list (DNC): one small aggregate per blocked caller, keyed by the caller's hash."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from eventsourcing.domain import event

from domain.base import PPCXAggregate
from domain.ids import derived_id


def blocked_caller_id(caller_hash: str) -> str:
    return derived_id("cmd", "blocked-caller", caller_hash)


class BlockedCaller(PPCXAggregate):
    if TYPE_CHECKING:  # the event classes `@event` makes, for type checkers
        CallerBlocked: type[PPCXAggregate.Created]
        CallerReblocked: type[PPCXAggregate.Event]
        CallerUnblocked: type[PPCXAggregate.Event]

    @event("CallerBlocked")
    def __init__(
        self,
        id: str,
        caller_hash: str,
        reason: str,
        by: str,
        timestamp: datetime,
    ) -> None:
        self.caller_hash = caller_hash
        self.blocked = True
        self.reason = reason

    @event("CallerReblocked")
    def reblock(self, reason: str, by: str, timestamp: datetime) -> None:
        self.blocked = True
        self.reason = reason

    @event("CallerUnblocked")
    def unblock(self, by: str, timestamp: datetime) -> None:
        self.blocked = False
