"""A publisher: sends pings and earns payouts."""

from __future__ import annotations

from datetime import datetime

from eventsourcing.domain import event

from domain.base import PPCXAggregate


class Publisher(PPCXAggregate):
    @event("Registered")
    def __init__(self, id: str, name: str, by: str, timestamp: datetime) -> None:
        self.name = name
        self.registered_by = by

    @event("Renamed")
    def rename(self, name: str, by: str, timestamp: datetime) -> None:
        self.name = name
