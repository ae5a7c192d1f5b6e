"""Injected time. Everything is UTC; pure code takes `now` as an argument."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

from domain.errors import ValidationError


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to: tests and simulations never sleep."""

    def __init__(self, start: datetime) -> None:
        self._now = require_utc(start, "start")
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, text: str) -> ManualClock:
        return cls(datetime.fromisoformat(text))

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValidationError("a clock does not run backwards", field="delta")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, at: datetime) -> None:
        at = require_utc(at, "at")
        with self._lock:
            if at < self._now:
                raise ValidationError("a clock does not run backwards", field="at")
            self._now = at


def require_utc(at: datetime, field: str = "at") -> datetime:
    """The datetime, normalised to UTC; naive datetimes are refused, never guessed."""
    if not isinstance(at, datetime):
        raise ValidationError(f"{field} must be a datetime", field=field)
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValidationError(f"{field} must carry a time zone (UTC expected)", field=field)
    return at.astimezone(UTC)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(at: datetime) -> int:
    """Milliseconds since the epoch (integer arithmetic): the form Redis scripts receive."""
    return (require_utc(at) - EPOCH) // timedelta(milliseconds=1)


def from_ms(epoch_ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=epoch_ms)
