"""Money: integer cents, decimal strings at the edge, never a float.

`parse_cents("45.50") == 4550`; `format_cents(4550) == "45.50"`. A revenue share is a `Decimal`
in [0, 1] and the payout it gives is rounded half-even to the cent.

Decimal strings are ASCII only, taken exactly as written: Python's `int()`, `Decimal()` and
`\\d` accept any Unicode digit ("１０"), underscores, surrounding blanks and exponents, so
the text is matched against `[0-9]` patterns (whole string) before it is converted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from domain.errors import ValidationError
from domain.invariant import invariant

CURRENCY = "USD"
MAX_AMOUNT_CENTS = 10**13  # $100 billion: anything above is a typo or an attack
AMOUNT_UNITS_DIGITS_MAX = 13  # with MAX_AMOUNT_CENTS: 13 digits of dollars at most
SHARE_PLACES_MAX = 6
# The same shapes as the API's patterns (api/models.py): ASCII digits, nothing else.
AMOUNT_PATTERN = rf"-?[0-9]{{1,{AMOUNT_UNITS_DIGITS_MAX}}}(\.[0-9]{{1,2}})?"
SHARE_PATTERN = rf"(0(\.[0-9]{{1,{SHARE_PLACES_MAX}}})?|1(\.0{{1,{SHARE_PLACES_MAX}}})?)"
_DECIMAL_RE = re.compile(rf"(-)?([0-9]{{1,{AMOUNT_UNITS_DIGITS_MAX}}})(?:\.([0-9]{{1,2}}))?")
_SHARE_RE = re.compile(SHARE_PATTERN)


def require_cents(
    value: object, field: str = "amount_cents", *, allow_negative: bool = False
) -> int:
    """An int number of cents, refusing floats, bools and out-of-range values."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(
            f"{field} must be an integer number of cents, not {type(value).__name__}", field=field
        )
    if not allow_negative and value < 0:
        raise ValidationError(f"{field} must not be negative", field=field)
    if abs(value) > MAX_AMOUNT_CENTS:
        raise ValidationError(f"{field} is out of range", field=field)
    return value


def parse_cents(text: object, field: str = "amount", *, allow_negative: bool = False) -> int:
    """Cents from a decimal string such as "45.50" or "45": ASCII digits, an optional leading
    "-" (when allowed) and at most two places; anything else (floats, blanks, "+", "1e3",
    "1_000", Unicode digits) is refused."""
    if isinstance(text, float):
        raise ValidationError(
            f'{field} must be a decimal string such as "45.50", not a float', field=field
        )
    if not isinstance(text, str):
        raise ValidationError(f'{field} must be a decimal string such as "45.50"', field=field)
    match = _DECIMAL_RE.fullmatch(text)
    if match is None:
        raise ValidationError(
            f'{field} must be a decimal string with at most two places, such as "45.50"',
            field=field,
        )
    sign, units, fraction = match.groups()
    cents = int(units) * 100 + int((fraction or "0").ljust(2, "0"))
    if sign:
        cents = -cents
    return require_cents(cents, field, allow_negative=allow_negative)


def format_cents(cents: int) -> str:
    """ "45.50" from 4550; "-0.05" from -5. Any whole number of cents: MAX_AMOUNT_CENTS bounds
    an amount given as input, not a sum read back (an account's total of many deposits may
    pass it, and must still be shown)."""
    invariant(isinstance(cents, int) and not isinstance(cents, bool), "cents are an int")
    sign = "-" if cents < 0 else ""
    units, fraction = divmod(abs(cents), 100)
    return f"{sign}{units}.{fraction:02d}"


def parse_share(text: object, field: str = "share") -> Decimal:
    """A revenue share in [0, 1] from a decimal string ("0.70", "1", at most six places,
    ASCII digits only: no exponent, sign, blank, underscore or NaN)."""
    if isinstance(text, float):
        raise ValidationError(
            f'{field} must be a decimal string such as "0.70", not a float', field=field
        )
    if isinstance(text, Decimal):
        share = text
    elif isinstance(text, str):
        if _SHARE_RE.fullmatch(text) is None:
            raise ValidationError(
                f"{field} must be a decimal between 0 and 1 with at most {SHARE_PLACES_MAX} "
                'places, such as "0.70"',
                field=field,
            )
        share = Decimal(text)
    else:
        raise ValidationError(f'{field} must be a decimal string such as "0.70"', field=field)
    if not share.is_finite() or share < 0 or share > 1:
        raise ValidationError(f"{field} must be between 0 and 1", field=field)
    return share


def share_of(cents: int, share: Decimal) -> int:
    """`share` of `cents`, rounded half-even to the cent (banker's rounding)."""
    require_cents(cents)
    if not isinstance(share, Decimal):
        raise ValidationError("share must be a Decimal", field="share")
    return int((Decimal(cents) * share).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An amount of one currency in integer cents; arithmetic refuses floats and mixed
    currencies."""

    amount_cents: int
    currency: str = CURRENCY

    def __post_init__(self) -> None:
        require_cents(self.amount_cents, allow_negative=True)
        if not (
            isinstance(self.currency, str) and len(self.currency) == 3 and self.currency.isupper()
        ):
            raise ValidationError("currency must be an ISO 4217 code such as USD", field="currency")

    @classmethod
    def parse(cls, text: object, currency: str = CURRENCY) -> Money:
        return cls(parse_cents(text, allow_negative=True), currency)

    def format(self) -> str:
        return format_cents(self.amount_cents)

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise ValidationError(f"cannot combine {self.currency} with {other.currency}")
        return other

    def __add__(self, other: object) -> Money:
        return Money(self.amount_cents + self._same(other).amount_cents, self.currency)

    def __sub__(self, other: object) -> Money:
        return Money(self.amount_cents - self._same(other).amount_cents, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount_cents, self.currency)

    def __mul__(self, factor: object) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise TypeError("Money multiplies by an int only; use share_of() for a share")
        return Money(self.amount_cents * factor, self.currency)

    __rmul__ = __mul__

    def share(self, share: Decimal) -> Money:
        if self.amount_cents < 0:
            raise ValidationError("a share of a negative amount is not defined")
        return Money(share_of(self.amount_cents, share), self.currency)

    def __str__(self) -> str:
        return f"{self.format()} {self.currency}"
