"""Schedules across DST changes, cap periods in local time, and geo rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.caps import Caps, CapUsage, cap_exceeded
from domain.errors import ValidationError
from domain.geo import Geo, GeoRule, area_code_of, parse_e164
from domain.schedule import WeeklySchedule, local_periods

pytestmark = pytest.mark.unit

NINE_TO_FIVE = WeeklySchedule.parse(
    "America/New_York",
    {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
)


@pytest.mark.parametrize(
    ("utc", "is_open"),
    [
        # 2026-03-08: US clocks spring forward at 02:00 local (EST -5 → EDT -4)
        (datetime(2026, 3, 7, 14, 0, tzinfo=UTC), True),  # Sat 09:00 EST
        (datetime(2026, 3, 7, 13, 59, tzinfo=UTC), False),  # Sat 08:59 EST
        (datetime(2026, 3, 8, 13, 0, tzinfo=UTC), True),  # Sun 09:00 EDT (13:00 UTC now)
        (datetime(2026, 3, 8, 12, 59, tzinfo=UTC), False),  # Sun 08:59 EDT
        (datetime(2026, 3, 8, 20, 59, tzinfo=UTC), True),  # Sun 16:59 EDT
        (datetime(2026, 3, 8, 21, 0, tzinfo=UTC), False),  # Sun 17:00 EDT closes
        # 2026-11-01: clocks fall back at 02:00 local (EDT → EST)
        (datetime(2026, 11, 1, 13, 0, tzinfo=UTC), False),  # Sun 08:00 EST
        (datetime(2026, 11, 1, 14, 0, tzinfo=UTC), True),  # Sun 09:00 EST
        (datetime(2026, 11, 1, 21, 59, tzinfo=UTC), True),  # Sun 16:59 EST
        (datetime(2026, 11, 1, 22, 0, tzinfo=UTC), False),  # Sun 17:00 EST
    ],
)
def test_schedule_is_local_wall_time_across_dst(utc: datetime, is_open: bool) -> None:
    assert NINE_TO_FIVE.is_open(utc) is is_open


def test_overnight_interval_continues_into_next_day() -> None:
    night = WeeklySchedule.parse("UTC", {"fri": [["22:00", "02:00"]]})
    assert night.is_open(datetime(2026, 3, 6, 23, 0, tzinfo=UTC))  # Friday 23:00
    assert night.is_open(datetime(2026, 3, 7, 1, 59, tzinfo=UTC))  # Saturday 01:59
    assert not night.is_open(datetime(2026, 3, 7, 2, 0, tzinfo=UTC))
    assert not night.is_open(datetime(2026, 3, 6, 21, 59, tzinfo=UTC))


def test_empty_schedule_is_always_open_and_round_trips() -> None:
    assert WeeklySchedule().is_open(datetime(2026, 1, 1, tzinfo=UTC))
    assert WeeklySchedule.from_dict(NINE_TO_FIVE.to_dict()) == NINE_TO_FIVE


@pytest.mark.parametrize(
    ("zone", "hours"),
    [
        ("Mars/Olympus", None),
        ("UTC", {"someday": []}),
        ("UTC", {"mon": [["9", "17"]]}),
        ("UTC", {"mon": [["09:00", "09:00"]]}),
        ("UTC", {"mon": [["25:00", "26:00"]]}),
    ],
)
def test_bad_schedules_are_refused(zone: str, hours: dict[str, list[list[str]]] | None) -> None:
    with pytest.raises(ValidationError):
        WeeklySchedule.parse(zone, hours)


def test_cap_periods_reset_at_local_midnight_and_hour() -> None:
    tz = "America/Los_Angeles"
    before = local_periods(datetime(2026, 6, 2, 6, 59, 59, tzinfo=UTC), tz)  # 23:59:59 PDT
    after = local_periods(datetime(2026, 6, 2, 7, 0, 0, tzinfo=UTC), tz)  # 00:00 PDT
    assert before.day == "20260601"
    assert after.day == "20260602"
    assert before.hour != after.hour
    assert before.month == after.month == "202606"


def test_repeated_fall_back_hour_is_two_hours_for_caps() -> None:
    tz = "America/New_York"
    first = local_periods(datetime(2026, 11, 1, 5, 30, tzinfo=UTC), tz)  # 01:30 EDT
    second = local_periods(datetime(2026, 11, 1, 6, 30, tzinfo=UTC), tz)  # 01:30 EST
    assert first.hour != second.hour
    assert first.day == second.day


def test_caps() -> None:
    caps = Caps.parse({"concurrency": 2, "daily": 3, "daily_budget": "100.00"})
    assert cap_exceeded(caps, CapUsage(concurrency=1, day_count=2), 4500) is None
    assert cap_exceeded(caps, CapUsage(concurrency=2), 4500) == "cap_concurrency"
    assert cap_exceeded(caps, CapUsage(day_count=3), 4500) == "cap_daily"
    assert cap_exceeded(caps, CapUsage(day_spend_cents=6000), 4500) == "cap_budget"
    assert cap_exceeded(Caps(), CapUsage(concurrency=10**6), 1) is None
    for bad in (
        {"concurrency": 0},
        {"hourly": -1},
        {"daily": 1.5},
        {"weekly": 3},
        {"daily_budget": 10.0},
    ):
        with pytest.raises(ValidationError):
            Caps.parse(bad)


def test_geo_rules() -> None:
    caller = Geo.of_caller("+13105550123", "CA", "90210", None)
    assert caller == Geo("CA", "90210", "310")
    assert GeoRule.parse("allow", states=["CA"]).admits(caller)
    assert not GeoRule.parse("allow", states=["NY"]).admits(caller)
    assert GeoRule.parse("allow", states=["NY"], zips=["90210"]).admits(caller)
    assert not GeoRule.parse("deny", area_codes=["310"]).admits(caller)
    assert GeoRule.parse("deny", states=["NY"]).admits(caller)
    assert GeoRule().admits(Geo())
    assert not GeoRule.parse("allow", states=["CA"]).admits(Geo())  # unknown location
    assert area_code_of("+442071234567") is None


@pytest.mark.parametrize(
    "bad",
    [
        *("3105550123", "+1310555012", "+11105550123", "+1 (310) 155-0123", "", None),
        *("+0123456789", "+1 (310) 555-0123", "+13105550123\n", "+1３105550123"),
        *("+13101000000", "+4420712345678"),
    ],
)
def test_invalid_phone_numbers(bad: object) -> None:
    with pytest.raises(ValidationError):
        parse_e164(bad)


def test_phone_numbers_are_taken_as_written_and_555_numbers_are_valid() -> None:
    assert parse_e164("+442071234567") == "+442071234567"
    assert parse_e164("+13105550123") == "+13105550123"  # the suite's fictional numbers


@pytest.mark.parametrize(
    ("number", "state", "area_code"),
    [
        ("+13105550123", "CA", "310"),
        ("+12125551234", "NY", "212"),
        ("+12025550123", "DC", "202"),
        ("+12065550123", "WA", "206"),
        ("+17875550123", "PR", "787"),
        ("+14165550123", None, "416"),
        ("+18005550100", None, "800"),
        ("+442071234567", None, None),
    ],
)
def test_state_and_area_code_come_from_the_number_when_not_given(
    number: str, state: str | None, area_code: str | None
) -> None:
    assert Geo.of_caller(number, None, None, None) == Geo(state, None, area_code)
    assert Geo.of_caller(number, "NV", "89101", "702") == Geo("NV", "89101", "702")


@pytest.mark.parametrize(
    ("state", "zip_code", "area_code"),
    [
        *[("ca", None, None), (" CA", None, None), ("", None, None)],
        *[(None, "90210-1234", None), (None, "９0210", None), (None, "", None)],
        *[(None, None, "310 "), (None, None, "１310")],
    ],
)
def test_geo_is_taken_as_written(
    state: str | None, zip_code: str | None, area_code: str | None
) -> None:
    with pytest.raises(ValidationError):
        Geo.of_caller("+13105550123", state, zip_code, area_code)


def test_schedule_evaluation_needs_utc_aware_time() -> None:
    with pytest.raises(ValidationError):
        NINE_TO_FIVE.is_open(datetime(2026, 1, 1) + timedelta(0))
