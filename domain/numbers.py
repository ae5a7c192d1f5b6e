"""Tracking numbers (static, tied to a source) and DNI pools (numbers leased to web sessions,
from pages on the web origins the pool allows).

A number's aggregate id is derived from the number itself, so no number can be provisioned
twice — whether static or in a pool."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from eventsourcing.domain import event

from domain.base import PPCXAggregate
from domain.ids import derived_id


def number_id(number: str) -> str:
    return derived_id("num", number)


class TrackingNumber(PPCXAggregate):
    if TYPE_CHECKING:  # the event classes `@event` makes, for type checkers
        Provisioned: type[PPCXAggregate.Created]

    @event("Provisioned")
    def __init__(
        self,
        id: str,
        number: str,
        campaign_id: str,
        publisher_id: str,
        source: str,
        medium: str | None,
        keyword: str | None,
        pool_id: str | None,
        by: str,
        timestamp: datetime,
    ) -> None:
        self.number = number
        self.campaign_id = campaign_id
        self.publisher_id = publisher_id
        self.source = source
        self.medium = medium
        self.keyword = keyword
        self.pool_id = pool_id


class NumberPool(PPCXAggregate):
    if TYPE_CHECKING:  # the event classes `@event` makes, for type checkers
        Created: type[PPCXAggregate.Created]
        OriginsAllowed: type[PPCXAggregate.Event]

    @event("Created")
    def __init__(
        self,
        id: str,
        name: str,
        campaign_id: str,
        publisher_id: str,
        numbers: list[str],
        lease_ttl_s: int,
        by: str,
        timestamp: datetime,
    ) -> None:
        self.name = name
        self.campaign_id = campaign_id
        self.publisher_id = publisher_id
        self.numbers = list(numbers)
        self.lease_ttl_s = lease_ttl_s
        # web origins whose pages may lease numbers from the browser (CORS); pools created
        # before origins were recorded, or without any, allow none
        self.allowed_origins: list[str] = []

    @event("OriginsAllowed")
    def allow_origins(self, origins: list[str], by: str, timestamp: datetime) -> None:
        """The web origins (scheme://host[:port]) allowed from now on, replacing the list."""
        self.allowed_origins = list(origins)
