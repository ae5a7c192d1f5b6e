"""An API key: a role, an owner, and only a keyed hash of the secret."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from eventsourcing.domain import event

from domain.base import PPCXAggregate

Role = Literal["admin", "publisher", "buyer", "finance", "analyst"]
ROLES: tuple[Role, ...] = ("admin", "publisher", "buyer", "finance", "analyst")
OWNED_ROLES = frozenset({"publisher", "buyer"})


class ApiKey(PPCXAggregate):
    if TYPE_CHECKING:  # the event classes `@event` makes, for type checkers
        Issued: type[PPCXAggregate.Created]
        Revoked: type[PPCXAggregate.Event]

    @event("Issued")
    def __init__(
        self,
        id: str,
        role: str,
        owner_id: str | None,
        key_hash: str,
        label: str,
        by: str,
        timestamp: datetime,
    ) -> None:
        self.role = role
        self.owner_id = owner_id
        self.key_hash = key_hash
        self.label = label
        self.revoked = False

    @event("Revoked")
    def revoke(self, by: str, timestamp: datetime) -> None:
        self.revoked = True
