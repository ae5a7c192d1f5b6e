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
        Suspended: type[PPCXAggregate.Event]
        Reinstated: type[PPCXAggregate.Event]
        PingLimitSet: type[PPCXAggregate.Event]

    # newer than the first stored logs: a class-level default, so a publisher loaded from an
    # older snapshot has it too (and its state equals its events' fold)
    suspended = False
    # its pings' token bucket (None: `domain.limits.PING_RATE_PER_S` / `PING_BURST` defaults)
    ping_rate_per_s: int | None = None
    ping_burst: int | None = None

    @event("Registered")
    def __init__(self, id: str, name: str, by: str, timestamp: datetime) -> None:
        self.name = name
        self.registered_by = by

    @event("Renamed")
    def rename(self, name: str, by: str, timestamp: datetime) -> None:
        self.name = name

    @event("Suspended")
    def suspend(self, reason: str, by: str, timestamp: datetime) -> None:
        """Its pings, RTB pings and posts are refused until it is reinstated."""
        self.suspended = True

    @event("Reinstated")
    def reinstate(self, by: str, timestamp: datetime) -> None:
        self.suspended = False

    @event("PingLimitSet")
    def set_ping_limit(
        self, rate_per_s: int | None, burst: int | None, by: str, timestamp: datetime
    ) -> None:
        """Its pings and RTB pings together: `rate_per_s` a second, bursts of `burst`."""
        self.ping_rate_per_s = rate_per_s
        self.ping_burst = burst
