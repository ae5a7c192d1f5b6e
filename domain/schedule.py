"""A weekly schedule in an IANA time zone (DST-correct), and the local periods caps count in."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from domain.clock import require_utc
from domain.errors import ValidationError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME_RE = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]|24:00")  # whole string, ASCII digits
MINUTES_PER_DAY = 24 * 60


def parse_time_zone(name: object, field: str = "time_zone") -> str:
    if not isinstance(name, str) or not name or name not in _zones():
        raise ValidationError(
            f"{field} must be an IANA time zone such as America/New_York", field=field
        )
    return name


_ZONES: frozenset[str] | None = None


def _zones() -> frozenset[str]:
    global _ZONES  # noqa: PLW0603 - a lazily built, immutable lookup table
    if _ZONES is None:
        _ZONES = frozenset(available_timezones()) | {"UTC"}
    return _ZONES


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone {name!r}", field="time_zone") from None


def _minute(text: object, field: str) -> int:
    if not isinstance(text, str) or not _TIME_RE.fullmatch(text):
        raise ValidationError(
            f"{field} must be a time such as 08:30 (24:00 ends a day)", field=field
        )
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """Opening hours per local weekday as [open_minute, close_minute) intervals.

    No hours at all means always open. An interval such as 22:00–02:00 continues into the
    next day. Evaluation converts the UTC instant to local wall time with zoneinfo, so a
    schedule "09:00–17:00" means 09:00–17:00 local on both sides of a DST change.
    """

    time_zone: str = "UTC"
    hours: Mapping[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)

    @classmethod
    def parse(cls, time_zone: object, hours: Mapping[str, Any] | None) -> WeeklySchedule:
        tz = parse_time_zone(time_zone, "schedule.time_zone")
        by_day: dict[str, list[tuple[int, int]]] = {}
        for day, intervals in (hours or {}).items():
            if day not in DAYS:
                raise ValidationError(
                    f"schedule day must be one of {', '.join(DAYS)}", field="schedule.hours"
                )
            for interval in intervals:
                if not isinstance(interval, (list, tuple)) or len(interval) != 2:
                    raise ValidationError(
                        'an interval is ["09:00", "17:00"]', field=f"schedule.hours.{day}"
                    )
                start = _minute(interval[0], f"schedule.hours.{day}")
                end = _minute(interval[1], f"schedule.hours.{day}")
                if start == end:
                    raise ValidationError(
                        "an interval must not be empty", field=f"schedule.hours.{day}"
                    )
                if start < end:
                    by_day.setdefault(day, []).append((start, end))
                else:  # crosses midnight: the rest belongs to the next day
                    by_day.setdefault(day, []).append((start, MINUTES_PER_DAY))
                    if end:
                        following = DAYS[(DAYS.index(day) + 1) % 7]
                        by_day.setdefault(following, []).append((0, end))
        return cls(tz, {day: tuple(sorted(v)) for day, v in by_day.items()})

    @property
    def always_open(self) -> bool:
        return not self.hours

    def is_open(self, at: datetime) -> bool:
        if self.always_open:
            return True
        local = require_utc(at).astimezone(zone(self.time_zone))
        minute = local.hour * 60 + local.minute
        return any(
            start <= minute < end for start, end in self.hours.get(DAYS[local.weekday()], ())
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "time_zone": self.time_zone,
            "hours": {day: [list(i) for i in self.hours[day]] for day in DAYS if day in self.hours},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WeeklySchedule:
        hours = {
            day: tuple((int(a), int(b)) for a, b in v) for day, v in data.get("hours", {}).items()
        }
        return cls(data.get("time_zone", "UTC"), hours)


@dataclass(frozen=True, slots=True)
class LocalPeriods:
    """The local hour, day and month an instant falls in, as counter keys."""

    hour: str
    day: str
    month: str


def local_periods(at: datetime, time_zone: str) -> LocalPeriods:
    """Keys of the cap periods in `time_zone`; the repeated hour of a DST fall-back is told
    apart by its fold, so each real hour has its own hourly count."""
    local = require_utc(at).astimezone(zone(time_zone))
    fold = "b" if local.fold else ""
    return LocalPeriods(
        hour=f"{local:%Y%m%d%H}{fold}", day=f"{local:%Y%m%d}", month=f"{local:%Y%m}"
    )
