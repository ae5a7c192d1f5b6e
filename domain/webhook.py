"""A webhook: an endpoint a publisher, buyer or admin subscribes to what happens to its calls.

Nothing secret is recorded: the signing secret is derived from the deployment's secret, the
webhook's id and `secret_version` (rotation moves the version on), and shown only when it is
made. Removal is final: a removed webhook is never changed again and reads as unknown."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from eventsourcing.domain import event

from domain.base import PPCXAggregate


class WebhookMethod(StrEnum):
    POST = "POST"  # a signed JSON body (Standard Webhooks)
    GET = "GET"  # a pixel: the URL is a template filled in per event


class WebhookStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    REMOVED = "removed"


class Webhook(PPCXAggregate):
    if TYPE_CHECKING:  # the event classes `@event` makes, for type checkers
        Registered: type[PPCXAggregate.Created]
        Changed: type[PPCXAggregate.Event]
        SecretRotated: type[PPCXAggregate.Event]
        Paused: type[PPCXAggregate.Event]
        Resumed: type[PPCXAggregate.Event]
        Removed: type[PPCXAggregate.Event]

    resumed_at: datetime | None = None  # when it was last resumed (None: never paused)

    @event("Registered")
    def __init__(
        self,
        id: str,
        owner_role: str,
        owner_id: str | None,  # None: an admin webhook (it hears of every call)
        url: str,
        method: str,
        events: list[str],
        description: str,
        by: str,
        timestamp: datetime,
    ) -> None:
        self.owner_role = owner_role
        self.owner_id = owner_id
        self.url = url
        self.method = method
        self.events = events
        self.description = description
        self.secret_version = 1
        self.paused = False
        self.removed = False

    @event("Changed")
    def change(
        self,
        url: str,
        method: str,
        events: list[str],
        description: str,
        by: str,
        timestamp: datetime,
    ) -> None:
        """The new values, all of them (a change names the whole subscription it leaves)."""
        self.url = url
        self.method = method
        self.events = events
        self.description = description

    @event("SecretRotated")
    def rotate_secret(self, version: int, by: str, timestamp: datetime) -> None:
        self.secret_version = version

    @event("Paused")
    def pause(self, reason: str, by: str, timestamp: datetime) -> None:
        self.paused = True

    @event("Resumed")
    def resume(self, by: str, timestamp: datetime) -> None:
        """Its failing is counted afresh from now (a day of new failures pauses it again)."""
        self.paused = False
        self.resumed_at = timestamp

    @event("Removed")
    def remove(self, by: str, timestamp: datetime) -> None:
        self.removed = True

    @property
    def status(self) -> WebhookStatus:
        if self.removed:
            return WebhookStatus.REMOVED
        return WebhookStatus.PAUSED if self.paused else WebhookStatus.ACTIVE
