"""The delivery policy: what an attempt means, and when the next one is due (time and the
random draws given)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.limits import WEBHOOK_ATTEMPTS_MAX, WEBHOOK_RETRY_BASE_S, WEBHOOK_RETRY_CAP_S
from webhooks.retry import (
    PAUSE_AFTER,
    AttemptError,
    Outcome,
    backoff_ceiling_s,
    classify,
    next_attempt_at,
    retry_after_delay,
)

pytestmark = pytest.mark.unit

FIRST = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
CAP = timedelta(seconds=WEBHOOK_RETRY_CAP_S)


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (299, Outcome.DELIVERED),
        (408, Outcome.RETRY),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
        (599, Outcome.RETRY),
        (AttemptError.TIMEOUT, Outcome.RETRY),
        (AttemptError.CONNECTION, Outcome.RETRY),
        (400, Outcome.FAILED),
        (401, Outcome.FAILED),
        (404, Outcome.FAILED),
        (410, Outcome.FAILED),
        (413, Outcome.FAILED),
        (499, Outcome.FAILED),
        (301, Outcome.FAILED),
        (100, Outcome.FAILED),
    ],
)
def test_an_attempt_is_classified(result: int | AttemptError, outcome: Outcome) -> None:
    assert classify(result) == outcome


def test_the_ceiling_doubles_up_to_the_cap() -> None:
    assert backoff_ceiling_s(1) == WEBHOOK_RETRY_BASE_S
    assert backoff_ceiling_s(2) == 2 * WEBHOOK_RETRY_BASE_S
    assert backoff_ceiling_s(10_000) == WEBHOOK_RETRY_CAP_S
    ceilings = [backoff_ceiling_s(n) for n in range(1, 40)]
    assert ceilings == sorted(ceilings)
    assert max(ceilings) == WEBHOOK_RETRY_CAP_S


def test_delays_grow_on_average_until_the_cap() -> None:
    rng = random.Random(20)
    now = FIRST + timedelta(seconds=1)
    means = []
    for attempt in range(1, 14):
        delays = []
        for _ in range(400):
            due = next_attempt_at(FIRST, attempt, now, None, rng)
            assert due is not None
            delays.append((due - now).total_seconds())
        means.append(sum(delays) / len(delays))
    growing = [n for n in range(1, 14) if backoff_ceiling_s(n) < WEBHOOK_RETRY_CAP_S]
    for n in growing:
        assert means[n] > means[n - 1], (n, means)
    assert means[-1] == pytest.approx(WEBHOOK_RETRY_CAP_S / 2, rel=0.15)


@pytest.mark.parametrize(
    ("header", "wait_s"),
    [
        ("120", 120),
        (" 0 ", 0),
        ("007", 7),
        ("99999999999999999999999", PAUSE_AFTER.total_seconds() + 1),
        (format_datetime(FIRST + timedelta(minutes=10), usegmt=True), 600),
        ("Sun, 08 Mar 2026 07:10:00 -0000", 600),
        ("Sun, 08 Mar 2026 08:10:00 +0100", 600),
        (format_datetime(FIRST - timedelta(minutes=10), usegmt=True), 0),
    ],
)
def test_retry_after_is_read(header: str, wait_s: float) -> None:
    assert retry_after_delay(header, FIRST) == timedelta(seconds=wait_s)


@pytest.mark.parametrize("header", [None, "", "soon", "-5", "1.5", "١٢", "Sun, 99 Foo"])
def test_a_retry_after_not_understood_is_ignored(header: str | None) -> None:
    assert retry_after_delay(header, FIRST) is None


def test_retry_after_is_honoured_beyond_the_cap() -> None:
    now = FIRST + timedelta(minutes=1)
    due = next_attempt_at(FIRST, 1, now, "7200", random.Random(1))
    assert due == now + timedelta(hours=2)


def test_no_attempt_past_a_day_from_the_first() -> None:
    late = FIRST + PAUSE_AFTER - timedelta(seconds=1)
    assert next_attempt_at(FIRST, 1, late, "2", random.Random(1)) is None
    assert next_attempt_at(FIRST, 3, FIRST, str(24 * 3600 + 1), random.Random(1)) is None
    assert next_attempt_at(FIRST, 1, FIRST, str(24 * 3600), random.Random(1)) == FIRST + PAUSE_AFTER


def test_attempts_are_bounded() -> None:
    assert next_attempt_at(FIRST, WEBHOOK_ATTEMPTS_MAX, FIRST, None, random.Random(1)) is None
    assert next_attempt_at(FIRST, WEBHOOK_ATTEMPTS_MAX - 1, FIRST, None, random.Random(1))


retry_afters = st.one_of(
    st.none(),
    st.integers(0, 2 * 86_400).map(str),
    st.integers(-3_600, 2 * 86_400).map(
        lambda s: format_datetime(FIRST + timedelta(seconds=s), usegmt=True)
    ),
    st.text(max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(
    attempt=st.integers(1, WEBHOOK_ATTEMPTS_MAX + 5),
    elapsed_s=st.integers(0, 2 * 86_400),
    retry_after=retry_afters,
    seed=st.integers(0, 2**32),
)
def test_the_schedule_keeps_its_bounds(
    attempt: int, elapsed_s: int, retry_after: str | None, seed: int
) -> None:
    now = FIRST + timedelta(seconds=elapsed_s)
    due = next_attempt_at(FIRST, attempt, now, retry_after, random.Random(seed))
    asked = retry_after_delay(retry_after, now)
    if due is None:
        return
    assert due <= FIRST + PAUSE_AFTER
    assert due >= now
    assert attempt < WEBHOOK_ATTEMPTS_MAX
    if asked is None:
        assert due - now <= timedelta(seconds=backoff_ceiling_s(attempt))
        assert due - now <= CAP
    else:
        assert due - now >= asked  # never before the endpoint asked
        assert due - now <= max(asked, CAP)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32), retry_after=retry_afters)
def test_a_whole_schedule_ends_within_a_day(seed: int, retry_after: str | None) -> None:
    rng = random.Random(seed)
    now, attempt = FIRST, 1
    while (due := next_attempt_at(FIRST, attempt, now, retry_after, rng)) is not None:
        assert FIRST <= now <= due <= FIRST + PAUSE_AFTER
        now, attempt = due, attempt + 1
    assert attempt <= WEBHOOK_ATTEMPTS_MAX
