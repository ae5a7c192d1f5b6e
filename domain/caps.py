"""A target's caps: live-call concurrency, calls per local hour/day/month, a daily budget."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.call_state import ExclusionReason
from domain.errors import ValidationError
from domain.limits import CAP
from domain.money import parse_cents


def _cap(value: object, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value not in CAP:
        raise ValidationError(f"{field} must be a positive whole number (or absent)", field=field)
    return value


@dataclass(frozen=True, slots=True)
class Caps:
    """None means unlimited."""

    concurrency: int | None = None
    hourly: int | None = None
    daily: int | None = None
    monthly: int | None = None
    daily_budget_cents: int | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None) -> Caps:
        data = data or {}
        unknown = set(data) - {"concurrency", "hourly", "daily", "monthly", "daily_budget"}
        if unknown:
            raise ValidationError(f"unknown cap {sorted(unknown)[0]!r}", field="caps")
        budget = data.get("daily_budget")
        budget_cents = parse_cents(budget, "caps.daily_budget") if budget is not None else None
        if budget_cents == 0:
            raise ValidationError("caps.daily_budget must be positive", field="caps.daily_budget")
        return cls(
            concurrency=_cap(data.get("concurrency"), "caps.concurrency"),
            hourly=_cap(data.get("hourly"), "caps.hourly"),
            daily=_cap(data.get("daily"), "caps.daily"),
            monthly=_cap(data.get("monthly"), "caps.monthly"),
            daily_budget_cents=budget_cents,
        )

    def to_dict(self) -> dict[str, int | None]:
        return {
            "concurrency": self.concurrency,
            "hourly": self.hourly,
            "daily": self.daily,
            "monthly": self.monthly,
            "daily_budget_cents": self.daily_budget_cents,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Caps:
        return cls(
            data.get("concurrency"),
            data.get("hourly"),
            data.get("daily"),
            data.get("monthly"),
            data.get("daily_budget_cents"),
        )


@dataclass(frozen=True, slots=True)
class CapUsage:
    """What a target has used in its current periods (zero when a period rolled over)."""

    concurrency: int = 0
    hour_count: int = 0
    day_count: int = 0
    month_count: int = 0
    day_spend_cents: int = 0


def cap_exceeded(caps: Caps, usage: CapUsage, price_cents: int) -> ExclusionReason | None:
    """The first cap that one more call at `price_cents` would break, or None."""
    if caps.concurrency is not None and usage.concurrency >= caps.concurrency:
        return ExclusionReason.CAP_CONCURRENCY
    if caps.hourly is not None and usage.hour_count >= caps.hourly:
        return ExclusionReason.CAP_HOURLY
    if caps.daily is not None and usage.day_count >= caps.daily:
        return ExclusionReason.CAP_DAILY
    if caps.monthly is not None and usage.month_count >= caps.monthly:
        return ExclusionReason.CAP_MONTHLY
    if caps.daily_budget_cents is not None and (
        usage.day_spend_cents + price_cents > caps.daily_budget_cents
    ):
        return ExclusionReason.CAP_BUDGET
    return None
