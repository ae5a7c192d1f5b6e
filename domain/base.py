"""The aggregate base for PPCX: string ids ("call_…", "buy_…") instead of bare UUIDs.

eventsourcing's stock `Aggregate` is tied to UUID ids (its `DomainEvent` refuses others), so
PPCX declares the same frozen-dataclass events over `str`. Event classes and their fields are a
published format: stored events are keyed by `module:Class.Event` — never move or rename one
without registering the old topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from eventsourcing.domain import (
    BaseAggregate,
    CanInitAggregate,
    CanMutateAggregate,
    CanSnapshotAggregate,
    MetaDomainEvent,
    MutableOrImmutableAggregate,
)


@dataclass(frozen=True)
class PPCXEvent(CanMutateAggregate[str], metaclass=MetaDomainEvent):
    originator_id: str
    originator_version: int
    timestamp: datetime


@dataclass(frozen=True)
class PPCXCreated(CanInitAggregate[str], PPCXEvent):
    originator_topic: str


@dataclass(frozen=True)
class PPCXSnapshot(CanSnapshotAggregate[str], metaclass=MetaDomainEvent):
    originator_id: str
    originator_version: int
    timestamp: datetime
    topic: str
    state: dict[str, Any]

    @classmethod
    def take(cls, aggregate: MutableOrImmutableAggregate[str]) -> Self:
        snapshot = super().take(aggregate)
        for private in ("_id", "_version", "_pending_events"):
            snapshot.state.pop(private, None)
        return snapshot


class PPCXAggregate(BaseAggregate[str]):
    """Base of every PPCX aggregate. State is kept as plain ints, strings, lists and dicts
    (value objects are built from it on demand) so snapshots round-trip exactly."""

    class Event(PPCXEvent):
        pass

    class Created(Event, PPCXCreated):
        pass

    Snapshot = PPCXSnapshot

    @classmethod
    def record_created(cls, event_class: type[PPCXCreated], *, id: str, **fields: Any) -> Self:
        """A new aggregate, made by its created event (an explicit event class, cheaper on the
        ping path than an `@event` on `__init__`): what the library's `_create` does for the
        explicit style, through its public API — the event, folded, then pending."""
        event = event_class(
            originator_id=id,
            originator_version=cls.INITIAL_VERSION,
            originator_topic=f"{cls.__module__}:{cls.__qualname__}",
            **fields,
        )
        aggregate: object = event.mutate(None)
        if not isinstance(aggregate, cls):
            raise TypeError(f"{event_class.__qualname__} does not create a {cls.__qualname__}")
        aggregate.pending_events.append(event)
        return aggregate
