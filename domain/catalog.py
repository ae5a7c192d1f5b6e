"""Every aggregate and every event class the domain can record, found from the classes
themselves (walking the `domain` package), so a reader that must know them all — redaction,
the stored-format checks — is tested against what exists, not against a list kept by hand."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil

import domain
from domain.base import PPCXAggregate, PPCXEvent

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
    found: list[type[PPCXEvent]] = []
    for aggregate in aggregate_classes():
        for value in vars(aggregate).values():
            if (
                isinstance(value, type)
                and issubclass(value, PPCXEvent)
                and _is_recorded(aggregate, value)
            ):
                found.append(value)
    return found


def payload_fields(cls: type) -> list[str]:
    """An event class's own fields (those outside the envelope)."""
    return [f.name for f in dataclasses.fields(cls) if f.name not in ENVELOPE_FIELDS]
