"""Stored events are a published format: check the conventions every event class follows."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.catalog import event_classes
from eventstore.encoding import OrjsonTranscoder, is_datetime_field

pytestmark = pytest.mark.unit


def _event_classes() -> list[type]:
    return list(event_classes())  # every aggregate of every domain module


def test_there_are_events_to_check() -> None:
    assert len(_event_classes()) > 40


@pytest.mark.parametrize("cls", _event_classes(), ids=lambda c: c.__qualname__)
def test_datetimes_are_named_so_raw_readers_can_revive_them(cls: type) -> None:
    for f in dataclasses.fields(cls):
        is_datetime = "datetime" in str(f.type)
        assert is_datetime == is_datetime_field(f.name), (
            f"{cls.__qualname__}.{f.name}: datetime fields are named timestamp or *_at"
        )
    assert cls.__module__.startswith("domain."), "topics are module paths; keep them stable"


def test_transcoder_round_trips() -> None:
    t = OrjsonTranscoder()
    at = datetime(2026, 3, 8, 7, 0, 1, 5, tzinfo=UTC)
    value = {
        "timestamp": at,
        "expires_at": at,
        "n": 1,
        "share": Decimal("0.70"),
        "nested": {"last_billed_at": at, "label_at_text": "x", "list": [1, "a"]},
        "none_at": None,
    }
    assert t.decode(t.encode(value)) == value
