from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import ValidationError
from domain.money import MAX_AMOUNT_CENTS, Money, format_cents, parse_cents, parse_share, share_of

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "cents"),
    [("45.50", 4550), ("45", 4500), ("45.5", 4550), ("0.01", 1), ("0", 0), ("012.00", 1200)],
)
def test_parse_decimal_strings(text: str, cents: int) -> None:
    assert parse_cents(text) == cents


@pytest.mark.parametrize(
    "bad",
    [
        *(45.5, 1.0, "45.505", "-1.00", "abc", "", "1e3", None, 45, "1,000.00", "NaN"),
        *("１０.００", "١٠", "1_000", " 12.00", "12.00 ", "12.00\n", "+12.00", "12.", ".5"),
    ],
)
def test_refuses_floats_fractions_of_cents_and_junk(bad: object) -> None:
    with pytest.raises(ValidationError):
        parse_cents(bad)


def test_negative_only_when_allowed() -> None:
    assert parse_cents("-0.05", allow_negative=True) == -5
    assert format_cents(-5) == "-0.05"


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_format_and_parse_round_trip(cents: int) -> None:
    assert parse_cents(format_cents(cents), allow_negative=True) == cents


@pytest.mark.parametrize(
    ("cents", "share", "payout"),
    [
        (4550, "0.70", 3185),
        (1, "0.50", 0),  # 0.5 rounds to even: 0
        (3, "0.50", 2),  # 1.5 rounds to even: 2
        (5, "0.50", 2),  # 2.5 rounds to even: 2
        (7, "0.50", 4),  # 3.5 rounds to even: 4
        (10001, "0.333", 3330),  # 3330.333
        (4500, "1", 4500),
        (4500, "0", 0),
    ],
)
def test_share_rounds_half_even(cents: int, share: str, payout: int) -> None:
    assert share_of(cents, Decimal(share)) == payout


@pytest.mark.parametrize(
    "bad",
    [
        *("1.01", "-0.1", "x", 0.7, "Infinity", "NaN", "7e-1", "0.7_0", "０.７", "0.７"),
        *(" 0.7", "0.7\n", "+0.7", ".7", "0.1234567", "1.0000001", "2"),
    ],
)
def test_share_outside_zero_one_is_refused(bad: object) -> None:
    with pytest.raises(ValidationError):
        parse_share(bad)


def test_money_arithmetic_refuses_floats_and_mixed_currencies() -> None:
    a = Money.parse("10.25")
    assert (a + Money(75)).format() == "11.00"
    assert (a * 3).amount_cents == 3075
    with pytest.raises(TypeError):
        a * 1.5
    with pytest.raises(TypeError):
        a + 1  # type: ignore[operator]
    with pytest.raises(ValidationError):
        a + Money(1, "EUR")
    with pytest.raises(ValidationError):
        Money(1.5)  # type: ignore[arg-type]
    assert Money(1000).share(Decimal("0.7")) == Money(700)


def test_a_sum_above_the_input_bound_is_still_formatted() -> None:
    """MAX_AMOUNT_CENTS bounds an amount given, not a sum read back (a cash account after
    many of the largest deposits: the ledger's GET answered 422 for it, found by Schemathesis)."""
    total = MAX_AMOUNT_CENTS * 3 + 7
    assert format_cents(total) == f"{total // 100}.07"
    assert format_cents(-total) == f"-{total // 100}.07"
