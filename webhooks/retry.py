"""When a webhook delivery is tried again: what an attempt's result means, and when the next
attempt is due. Pure: the time and the random draws are given.

* a 2xx delivers; a timeout, a connection error, 408, 429 and a 5xx may heal, so they are
  tried again; anything else (other 4xx, 410 included; a redirect, which is not followed)
  fails the delivery at once;
* the next attempt comes after a random delay in [0, min(cap, base × 2^(attempt-1))] (full
  jitter: retries of many deliveries spread out), never before the endpoint's `Retry-After`;
* a delivery whose next attempt would come more than 24 hours after its first fails (and an
  endpoint failing that long is paused: `PAUSE_AFTER`), as does one after
  `WEBHOOK_ATTEMPTS_MAX` attempts.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum

from domain.invariant import invariant
from domain.limits import WEBHOOK_ATTEMPTS_MAX, WEBHOOK_RETRY_BASE_S, WEBHOOK_RETRY_CAP_S

PAUSE_AFTER = timedelta(hours=24)  # a delivery's retries, and an endpoint's failing, at most
_RETRIED_STATUSES = frozenset({408, 429})


class AttemptError(StrEnum):
    """An attempt that got no HTTP status."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


def classify(result: int | AttemptError) -> Outcome:
    """An attempt's outcome from its HTTP status, or from the error that left it without."""
    if isinstance(result, AttemptError):
        return Outcome.RETRY
    if 200 <= result <= 299:
        return Outcome.DELIVERED
    if result in _RETRIED_STATUSES or 500 <= result <= 599:
        return Outcome.RETRY
    return Outcome.FAILED


def backoff_ceiling_s(attempt: int) -> int:
    """The longest random delay after `attempt` failed attempts (1 after the first)."""
    invariant(attempt >= 1, "a retry follows an attempt")
    # stop doubling once past the cap (a hundredth attempt builds no 100-bit number)
    exponent = min(attempt - 1, WEBHOOK_RETRY_CAP_S.bit_length())
    return min(WEBHOOK_RETRY_CAP_S, WEBHOOK_RETRY_BASE_S << exponent)


def retry_after_delay(value: str | None, now: datetime) -> timedelta | None:
    """A `Retry-After` header's wait from `now` (seconds, or an HTTP-date), None when absent
    or not understood; a date in the past waits for nothing. A wait beyond `PAUSE_AFTER` is
    cut to just past it (the delivery gives up anyway)."""
    if value is None:
        return None
    text = value.strip()
    longest = PAUSE_AFTER + timedelta(seconds=1)
    if text.isascii() and text.isdigit():
        digits = text.lstrip("0") or "0"
        # more digits than a day's seconds have: past the limit (and no huge int is parsed)
        return longest if len(digits) > 9 else min(timedelta(seconds=int(digits)), longest)
    try:
        at = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if at.tzinfo is None:  # "-0000": UTC with no zone named
        at = at.replace(tzinfo=UTC)
    return min(max(at - now, timedelta(0)), longest)


def next_attempt_at(
    first_at: datetime,
    attempt: int,
    now: datetime,
    retry_after: str | None,
    rng: random.Random,
) -> datetime | None:
    """When to try a delivery again after `attempt` failed attempts (the first made at
    `first_at`, the last ending `now`, its `Retry-After` header if any); None: give up, the
    delivery fails."""
    invariant(now >= first_at, "attempts come after the first")
    if attempt >= WEBHOOK_ATTEMPTS_MAX:
        return None
    delay = timedelta(seconds=rng.uniform(0, backoff_ceiling_s(attempt)))
    asked = retry_after_delay(retry_after, now)
    if asked is not None:
        delay = max(delay, asked)
    due = now + delay
    return None if due > first_at + PAUSE_AFTER else due
