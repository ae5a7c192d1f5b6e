"""Injected time. Everything is UTC; pure code takes `now` as an argument."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta, timezone
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


# RFC 3339 date-time (section 5.6) with its offset, ASCII digits, the whole string; a leap
# second (:60) cannot be represented and is refused; fractions past microseconds are cut.
_RFC3339_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
RFC3339_EXAMPLE = "2026-11-02T15:04:05Z"


def format_rfc3339(at: datetime) -> str:
    """A UTC datetime as the API writes times: RFC 3339 with `Z`."""
    return require_utc(at).isoformat().replace("+00:00", "Z")


def parse_rfc3339(text: object, field: str = "at") -> datetime:
    """A UTC datetime from an RFC 3339 date-time with an offset (`Z` or ±hh:mm), a 4-digit
    year and real calendar values; anything else (no offset, a space for T, a date alone,
    epoch seconds, Unicode digits, blanks) is refused."""
    match = _RFC3339_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValidationError(
            f"{field} must be an RFC 3339 time with an offset, such as {RFC3339_EXAMPLE}",
            field=field,
        )
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    try:
        offset = timedelta(hours=int(off_h or 0), minutes=int(off_m or 0))
        if int(off_m or 0) > 59:
            raise ValueError("offset minutes")
        at = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=timezone(-offset if sign == "-" else offset),
        ).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValidationError(
            f"{field} is not a real time (month, day, hour, minute, second or offset out of range)",
            field=field,
        ) from None
    return at


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(at: datetime) -> int:
    """Milliseconds since the epoch (integer arithmetic): the form Redis scripts receive."""
    return (require_utc(at) - EPOCH) // timedelta(milliseconds=1)


def from_ms(epoch_ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=epoch_ms)
