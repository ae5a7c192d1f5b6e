"""A command receipt: makes a command with an id take effect once, however often it is sent.

The receipt's id is derived from the command id and it is saved in the same `save()` as the
command's effect, so a repeated command collides with it and records nothing new."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import event

from domain.base import PPCXAggregate


class CommandReceipt(PPCXAggregate):
    if TYPE_CHECKING:  # the event classes `@event` makes, for type checkers
        CommandAccepted: type[PPCXAggregate.Created]

    @event("CommandAccepted")
    def __init__(
        self,
        id: str,
        command: str,
        result: dict[str, Any],
        timestamp: datetime,
    ) -> None:
        self.command = command
        self.result = result
