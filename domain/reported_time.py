"""When a telephony report says something happened (`at` on a call event), and what time the
events it causes carry.

A reported time is accepted within a tolerance of the server's clock — at most
`REPORTED_AT_PAST_TOLERANCE` back (a webhook retried or queued for a while) and
`REPORTED_AT_FUTURE_TOLERANCE` ahead (the telephony's clock running a little fast) — and
refused outside it. Accepted, it is the time of the events the report causes, moved up to the
latest event of every aggregate the decision touches (each aggregate's events stay in time
order) and never later than now.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.base import PPCXAggregate
from domain.clock import require_utc
from domain.errors import ValidationError

REPORTED_AT_PAST_TOLERANCE = timedelta(minutes=5)
REPORTED_AT_FUTURE_TOLERANCE = timedelta(seconds=5)


def check_reported_at(at: datetime, now: datetime) -> datetime:
    """`at` (UTC) when within the tolerance of `now`; ValidationError naming `at` otherwise."""
    at = require_utc(at, "at")
    if at < now - REPORTED_AT_PAST_TOLERANCE:
        raise ValidationError(
            f"at is more than {REPORTED_AT_PAST_TOLERANCE.total_seconds():.0f} s before the "
            f"server's time ({now.isoformat()})",
            field="at",
        )
    if at > now + REPORTED_AT_FUTURE_TOLERANCE:
        raise ValidationError(
            f"at is more than {REPORTED_AT_FUTURE_TOLERANCE.total_seconds():.0f} s after the "
            f"server's time ({now.isoformat()})",
            field="at",
        )
    return at


def event_time(at: datetime | None, now: datetime, *touched: PPCXAggregate) -> datetime:
    """The time of a decision's events: the reported `at` (or `now` when none was reported),
    no later than `now`, and no earlier than the latest event of any aggregate touched."""
    when = now if at is None else min(require_utc(at, "at"), now)
    return max([when, *(aggregate.modified_on for aggregate in touched)])
