"""The screens before the auction (pure): the number's classification, the campaign's line-type
exclusions, caller velocity's window — and replay's own velocity count, which must agree with
every decision the rule made on exact counts and catch one it did not make."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidFields, ValidationError
from domain.geo import parse_caller
from domain.limits import VELOCITY_RACE_MS
from domain.screening import (
    CallerLine,
    LineType,
    Screen,
    ScreeningSettings,
    VelocityRule,
    VelocitySeen,
    classify,
    number_refusal,
    parse_velocity,
    screen,
    velocity_count,
)
from replay.velocity import Velocity

LANDLINE = CallerLine(True, True, LineType.FIXED_LINE_OR_MOBILE, "US")
TOLL_FREE = CallerLine(True, True, LineType.TOLL_FREE, "US")
PREMIUM = CallerLine(True, True, LineType.PREMIUM_RATE, "US")


@pytest.mark.parametrize(
    ("number", "possible", "valid", "line_type"),
    [
        ("+13105550123", True, True, LineType.FIXED_LINE_OR_MOBILE),
        ("+18005550100", True, True, LineType.TOLL_FREE),
        ("+19005550123", True, True, LineType.PREMIUM_RATE),
        ("+13101000000", True, False, LineType.UNKNOWN),  # an unassigned exchange
        ("+11105550123", True, False, LineType.UNKNOWN),  # an unassigned area code
        ("+1310555012345", False, False, LineType.UNKNOWN),  # too long for its country
    ],
)
def test_a_number_is_classified_by_the_library(
    number: str, possible: bool, valid: bool, line_type: LineType
) -> None:
    parsed, line = parse_caller(number)
    assert parsed == number
    assert (line.possible, line.valid, line.line_type) == (possible, valid, line_type)
    assert line.region == ("US" if valid else None)
    assert CallerLine.from_json(line.to_json()) == line
    assert classify(phonenumbers.parse(number)) == line


@pytest.mark.parametrize("number", ["+1 310 555 0123", "13105550123", "+1310", "+0123456789"])
def test_a_malformed_number_is_input_refused(number: str) -> None:
    with pytest.raises(ValidationError):
        parse_caller(number, "caller.number")


def test_the_numbers_screens_come_first_and_need_no_setting() -> None:
    not_possible = CallerLine(False, False, LineType.UNKNOWN, None)
    unassigned = CallerLine(True, False, LineType.UNKNOWN, None)
    assert number_refusal(not_possible).screen == Screen.INVALID_NUMBER  # type: ignore[union-attr]
    assert number_refusal(unassigned).screen == Screen.UNASSIGNABLE_NUMBER  # type: ignore[union-attr]
    assert number_refusal(LANDLINE) is None
    assert number_refusal(TOLL_FREE) is None  # only a campaign excludes toll-free callers
    over = VelocitySeen(0, 50, 3, 600)
    strict = ScreeningSettings(True, True, VelocityRule(3, 600))
    assert screen(unassigned, over, strict).screen == Screen.UNASSIGNABLE_NUMBER  # type: ignore[union-attr]


def test_line_types_are_refused_only_where_the_campaign_excludes_them() -> None:
    open_campaign = ScreeningSettings()
    assert screen(TOLL_FREE, None, open_campaign) is None
    assert screen(PREMIUM, None, open_campaign) is None
    no_toll_free = ScreeningSettings(exclude_toll_free=True)
    assert screen(TOLL_FREE, None, no_toll_free).screen == Screen.TOLL_FREE  # type: ignore[union-attr]
    assert screen(PREMIUM, None, no_toll_free) is None
    no_premium = ScreeningSettings(exclude_premium_rate=True)
    assert screen(PREMIUM, None, no_premium).screen == Screen.PREMIUM_RATE  # type: ignore[union-attr]
    assert screen(LANDLINE, None, ScreeningSettings(True, True)) is None


def test_velocity_refuses_the_call_after_the_nth() -> None:
    rule = ScreeningSettings(velocity=VelocityRule(3, 600))
    for count in range(3):
        assert screen(LANDLINE, VelocitySeen(0, count, 3, 600), rule) is None
    refused = screen(LANDLINE, VelocitySeen(0, 3, 3, 600), rule)
    assert refused is not None
    assert refused.screen == Screen.VELOCITY
    off = ScreeningSettings()  # the default: off
    assert not off.velocity.on
    assert screen(LANDLINE, VelocitySeen(0, 999, 0, 0), off) is None


def test_a_campaigns_stored_rules_give_its_settings() -> None:
    assert ScreeningSettings.of_rules({}) == ScreeningSettings()  # a campaign older than them
    stored = {"exclude_toll_free": True, "velocity": {"calls": 10, "window_s": 600}}
    assert ScreeningSettings.of_rules(stored) == ScreeningSettings(
        True, False, VelocityRule(10, 600)
    )


@pytest.mark.parametrize(
    ("given", "fields"),
    [
        ({"calls": 10}, ["velocity"]),
        ({"calls": -1, "window_s": 600}, ["velocity.calls"]),
        ({"calls": 10, "window_s": 59}, ["velocity.window_s"]),
        ({"calls": 1001, "window_s": 86_401}, ["velocity.calls", "velocity.window_s"]),
        ({"calls": True, "window_s": 600}, ["velocity.calls"]),
        ([10, 600], ["velocity"]),
    ],
)
def test_a_bad_velocity_rule_names_each_bad_part(given: object, fields: list[str]) -> None:
    with pytest.raises((ValidationError, InvalidFields)) as raised:
        parse_velocity(given)
    error = raised.value
    found = [e.field for e in error.errors] if isinstance(error, InvalidFields) else [error.field]
    assert found == fields
    assert parse_velocity({"calls": 0, "window_s": 60}) == VelocityRule(0, 60)


# -- the window, and replay's count of it ------------------------------------------------------

# bursts (within the race margin) and spread-out calls
GAPS_MS = st.lists(st.integers(0, 3_000) | st.integers(0, 400_000), min_size=1, max_size=40)


@given(gaps_ms=GAPS_MS, calls=st.integers(1, 6), window_s=st.integers(60, 1_200))
def test_the_window_counts_exactly_the_earlier_pings_within_it(
    gaps_ms: list[int], calls: int, window_s: int
) -> None:
    """A caller pinging at these times: the count at each ping is the earlier pings within
    (t - window, t]; a refusal happens exactly when `calls` of them are; and from any refused
    ping on, no more than `calls` pings were let through in any window."""
    times, at = [], 0
    rule = ScreeningSettings(velocity=VelocityRule(calls, window_s))
    let_through: list[int] = []
    for gap in gaps_ms:
        at += gap
        count = velocity_count(times, at, window_s)
        assert count == sum(1 for t in times if at - window_s * 1000 < t <= at)
        refused = screen(LANDLINE, VelocitySeen(at, count, calls, window_s), rule)
        assert (refused is not None) == (count >= calls)
        times.append(at)
        if refused is None:
            let_through.append(at)
    for i, start in enumerate(let_through):
        within = [t for t in let_through[i:] if t - start < window_s * 1000]
        assert len(within) <= calls


@given(
    gaps_ms=GAPS_MS,
    calls=st.integers(1, 6),
    window_s=st.integers(60, 1_200),
    flip=st.integers(0, 39),
)
def test_replay_agrees_with_exact_counts_and_catches_a_flipped_decision(
    gaps_ms: list[int], calls: int, window_s: int, flip: int
) -> None:
    """Exact counts (what Redis sees when pings do not overlap): replay's count from the log
    agrees with every decision; a decision flipped where the log is clear (no ping within the
    race margin before it) is a failure."""
    times, at, decided = [], 0, []
    for gap in gaps_ms:
        at += gap
        count = velocity_count(times, at, window_s)
        decided.append((at, count, count >= calls))
        times.append(at)

    def replayed(flipped: int | None) -> list[tuple[int, str, str, str]]:
        velocity = Velocity()
        failures = []
        for n, (at_ms, count, refused) in enumerate(decided):
            failures += velocity.resolve(at_ms)
            velocity.add(
                f"call_{n}",
                "caller",
                VelocitySeen(at_ms, count, calls, window_s),
                n,
                refused != (n == flipped),
            )
        return failures + velocity.resolve(None)

    assert replayed(None) == []
    n = flip % len(decided)
    at_ms, _, refused = decided[n]
    start = at_ms - window_s * 1000
    surely_before = sum(1 for t in times[:n] if start < t <= at_ms - VELOCITY_RACE_MS)
    others = sum(1 for i, t in enumerate(times) if i != n and start < t <= at_ms)
    failures = replayed(n)
    # a refusal let through is caught unless the pings that refused it were all within the
    # race margin before it; a pass refused is caught unless the log holds enough pings
    caught = surely_before >= calls if refused else others < calls
    assert [f[2] for f in failures] == ([f"call_{n}"] if caught else [])
    assert all(f[1] == "screening" for f in failures)


@given(
    country=st.sampled_from(["1", "44", "49", "33", "61", "52", "91", "800", "882", "7"]),
    digits=st.text("0123456789", min_size=4, max_size=13),
)
def test_valid_is_the_librarys_is_valid_number(country: str, digits: str) -> None:
    """`classify` reads validity from the number's type (one match, not two): the same as
    the library's `is_valid_number` for any number it parses."""
    try:
        parsed = phonenumbers.parse(f"+{country}{digits}", None)
    except phonenumbers.NumberParseException:
        return
    line = classify(parsed)
    assert line.valid == phonenumbers.is_valid_number(parsed)
    assert line.possible == phonenumbers.is_possible_number(parsed)
    if line.valid:
        assert line.region == phonenumbers.region_code_for_number(parsed)
