"""An API key: a role, an owner, and only a keyed hash of the secret."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from eventsourcing.domain import event

from domain.base import PPCXAggregate


class Role(StrEnum):
    """What an API key (or a person) may do; publishers and buyers own their data."""

    ADMIN = "admin"
    PUBLISHER = "publisher"
    BUYER = "buyer"
    FINANCE = "finance"
    ANALYST = "analyst"


ROLES: tuple[Role, ...] = tuple(Role)
OWNED_ROLES = frozenset({Role.PUBLISHER, Role.BUYER})


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
