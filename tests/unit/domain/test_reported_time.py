"""Client times: strict RFC 3339, a stated tolerance, and event times that keep each
aggregate's events in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.clock import parse_rfc3339
from domain.errors import ValidationError
from domain.reported_time import (
    REPORTED_AT_FUTURE_TOLERANCE,
    REPORTED_AT_PAST_TOLERANCE,
    check_reported_at,
)

pytestmark = pytest.mark.unit
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("2026-03-02T15:00:30Z", datetime(2026, 3, 2, 15, 0, 30, tzinfo=UTC)),
        ("2026-03-02t15:00:30z", datetime(2026, 3, 2, 15, 0, 30, tzinfo=UTC)),
        ("2026-03-02T17:00:30+02:00", datetime(2026, 3, 2, 15, 0, 30, tzinfo=UTC)),
        ("2026-03-02T08:30:30-06:30", datetime(2026, 3, 2, 15, 0, 30, tzinfo=UTC)),
        ("2026-03-02T15:00:30.5Z", datetime(2026, 3, 2, 15, 0, 30, 500000, tzinfo=UTC)),
        ("2026-03-02T15:00:30.123456789Z", datetime(2026, 3, 2, 15, 0, 30, 123456, tzinfo=UTC)),
        ("2024-02-29T00:00:00Z", datetime(2024, 2, 29, tzinfo=UTC)),
    ],
)
def test_rfc3339_times_with_an_offset(text: str, at: datetime) -> None:
    assert parse_rfc3339(text) == at


@pytest.mark.parametrize(
    "text",
    [
        *("2026-13-45T99:99:99Z", "99999-03-02T15:00:30Z", "2026-02-29T00:00:00Z"),
        *("2026-03-02T24:00:00Z", "2026-03-02T15:00:60Z", "2026-03-02T15:00:30"),
        *("2026-03-02 15:00:30Z", "2026-03-02T15:00:30+0000", "2026-03-02", "1772463630"),
        *("2026-03-02T15:00:30.Z", "２０２６-03-02T15:00:30Z", "2026-03-02T15:00:30+24:00"),
        *("2026-03-02T15:00:30+01:60", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00"),
        *(" 2026-03-02T15:00:30Z", "2026-03-02T15:00:30Z\n", "2026-03-02T15:00:30.1234567891Z"),
        *("", None, 1772463630),
    ],
)
def test_anything_else_is_refused(text: object) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_rfc3339(text)
    assert refused.value.field == "at"


def test_the_tolerance_is_five_minutes_back_and_five_seconds_ahead() -> None:
    assert check_reported_at(NOW - REPORTED_AT_PAST_TOLERANCE, NOW) == NOW - timedelta(minutes=5)
    assert check_reported_at(NOW + REPORTED_AT_FUTURE_TOLERANCE, NOW) == NOW + timedelta(seconds=5)
    for outside in (
        NOW - REPORTED_AT_PAST_TOLERANCE - timedelta(microseconds=1),
        NOW + REPORTED_AT_FUTURE_TOLERANCE + timedelta(microseconds=1),
    ):
        with pytest.raises(ValidationError) as refused:
            check_reported_at(outside, NOW)
        assert refused.value.field == "at"
