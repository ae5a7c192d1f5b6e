"""A publisher: sends pings and earns payouts."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from eventsourcing.domain import event

from domain.base import PPCXAggregate


class Publisher(PPCXAggregate):
    if TYPE_CHECKING:  # the event classes `@event` makes, for type checkers
        Registered: type[PPCXAggregate.Created]
        Renamed: type[PPCXAggregate.Event]

    @event("Registered")
    def __init__(self, id: str, name: str, by: str, timestamp: datetime) -> None:
        self.name = name
        self.registered_by = by

    @event("Renamed")
    def rename(self, name: str, by: str, timestamp: datetime) -> None:
        self.name = name
