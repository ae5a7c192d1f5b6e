"""Every aggregate and every event class the domain can record, found from the classes
themselves (walking the `domain` package), so a reader that must know them all — redaction,
the stored-format checks, every reader of the log through its `Reads` declaration — is
tested against what exists, not against a list kept by hand."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from dataclasses import dataclass
from functools import cached_property

import domain
from domain.base import PPCXAggregate, PPCXEvent
from domain.invariant import invariant

# fields every event carries (and the library's class version, stored when above 1): the
# event's envelope, not its payload
ENVELOPE_FIELDS = frozenset(
    {"originator_id", "originator_version", "timestamp", "originator_topic", "class_version"}
)


def topic_of(cls: type) -> str:
    """The stored topic of a class (`module:Qualified.Name`), as the event store keys it."""
    return f"{cls.__module__}:{cls.__qualname__}"


def aggregate_classes() -> list[type[PPCXAggregate]]:
    """Every aggregate class defined in a module of the `domain` package."""
    found: list[type[PPCXAggregate]] = []
    for module_info in pkgutil.walk_packages(domain.__path__, "domain."):
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, PPCXAggregate)
                and value is not PPCXAggregate
                and value.__module__ == module.__name__
            ):
                found.append(value)
    return found


def _is_recorded(aggregate: type[PPCXAggregate], cls: type) -> bool:
    """The library defines `Event` (the base of all) and `Created` on every aggregate; a
    `Created` that adds fields of its own is the aggregate's created event (from an `@event`
    on `__init__`), the bare one is only a base."""
    if cls is aggregate.Event:
        return False
    if cls.__name__ == "Created":
        return any(f.name not in ENVELOPE_FIELDS for f in dataclasses.fields(cls))
    return True


def event_classes() -> list[type[PPCXEvent]]:
    """Every event class an aggregate of the domain can record (its nested event classes)."""
    return [cls for aggregate in aggregate_classes() for cls in events_of(aggregate)]


def payload_fields(cls: type) -> list[str]:
    """An event class's own fields (those outside the envelope)."""
    return [f.name for f in dataclasses.fields(cls) if f.name not in ENVELOPE_FIELDS]


def name_of(cls: type) -> str:
    """`Aggregate.Event` (`Call.PingReceived`): how readers of raw rows name an event class
    (a stored topic's part after the colon)."""
    return cls.__qualname__


def events_of(aggregate: type[PPCXAggregate]) -> list[type[PPCXEvent]]:
    """The event classes an aggregate can record."""
    return [
        value
        for value in vars(aggregate).values()
        if isinstance(value, type)
        and issubclass(value, PPCXEvent)
        and _is_recorded(aggregate, value)
    ]


Readable = type[PPCXAggregate] | type[PPCXEvent]


@dataclass(frozen=True)
class Reads:
    """What one reader of the log does with each event class: handles it, or ignores it.

    An event class is listed by itself; an aggregate stands for every event it records, now
    and later — for a reader that takes all of them alike (it follows the aggregate's whole
    state, or shows any of its events) or reads nothing of it. A reader that picks among an
    aggregate's events lists each of them, in one list or the other, so a new event of that
    aggregate is in neither list until someone decides (a unit test fails on it)."""

    reader: str
    handles: tuple[Readable, ...]
    ignores: tuple[Readable, ...]

    def __post_init__(self) -> None:
        listed = [*self.handles, *self.ignores]
        invariant(len(set(listed)) == len(listed), f"{self.reader}: a class listed twice")
        whole = {c for c in listed if issubclass(c, PPCXAggregate)}
        for cls in listed:
            if issubclass(cls, PPCXEvent):
                invariant(
                    _aggregate_of(cls) not in whole,
                    f"{self.reader}: {name_of(cls)} is listed with its whole aggregate",
                )

    @cached_property
    def handled(self) -> frozenset[type[PPCXEvent]]:
        return frozenset(_expand(self.handles))

    @cached_property
    def ignored(self) -> frozenset[type[PPCXEvent]]:
        return frozenset(_expand(self.ignores))

    @cached_property
    def names(self) -> frozenset[str]:
        """The handled events' names (`Call.PingReceived`)."""
        return frozenset(name_of(cls) for cls in self.handled)

    @cached_property
    def topics(self) -> frozenset[str]:
        """The handled events' stored topics (`domain.call:Call.PingReceived`)."""
        return frozenset(topic_of(cls) for cls in self.handled)

    def undecided(self) -> list[str]:
        """Every event class the domain can record that neither list names."""
        decided = self.handled | self.ignored
        return sorted(name_of(cls) for cls in event_classes() if cls not in decided)


def _aggregate_of(cls: type[PPCXEvent]) -> type | None:
    """The aggregate class an event class is nested in."""
    outer = cls.__qualname__.rpartition(".")[0]
    found = getattr(importlib.import_module(cls.__module__), outer, None)
    return found if isinstance(found, type) else None


def _expand(listed: tuple[Readable, ...]) -> list[type[PPCXEvent]]:
    found: list[type[PPCXEvent]] = []
    for cls in listed:
        if issubclass(cls, PPCXAggregate):
            found.extend(events_of(cls))
        else:
            found.append(cls)
    return found
