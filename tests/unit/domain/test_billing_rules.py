"""Table tests of the pure billing rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.billing import (
    PayoutRule,
    billing_decision,
    check_campaign_economics,
    floor_cents,
    is_duplicate,
)
from domain.errors import ValidationError

pytestmark = pytest.mark.unit
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _bill(**kw: object) -> tuple[bool, str, int, int, int]:
    args: dict[str, object] = {
        "answered": True,
        "duration_s": 120,
        "buffer_s": 90,
        "duplicate": False,
        "blocked": False,
        "price_cents": 4500,
        "payout_cents": 3000,
    }
    args.update(kw)
    d = billing_decision(**args)  # type: ignore[arg-type]
    return d.billable, d.reason, d.revenue_cents, d.payout_cents, d.margin_cents


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, (True, "billable", 4500, 3000, 1500)),
        ({"duration_s": 90}, (True, "billable", 4500, 3000, 1500)),  # exactly the buffer bills
        ({"duration_s": 89}, (False, "below_buffer", 0, 0, 0)),  # one second short
        ({"buffer_s": 0, "duration_s": 0}, (True, "billable", 4500, 3000, 1500)),
        ({"answered": False}, (False, "not_answered", 0, 0, 0)),
        ({"duplicate": True}, (False, "duplicate", 0, 0, 0)),
        ({"blocked": True}, (False, "blocked", 0, 0, 0)),
        ({"blocked": True, "duplicate": True}, (False, "blocked", 0, 0, 0)),
        ({"answered": False, "blocked": True}, (False, "not_answered", 0, 0, 0)),
        ({"payout_cents": 5000}, (True, "billable", 4500, 5000, -500)),  # allowed by campaign
    ],
)
def test_billing_decision(overrides: dict[str, object], expected: tuple[object, ...]) -> None:
    assert _bill(**overrides) == expected


@pytest.mark.parametrize(
    ("last_billed", "window_days", "duplicate"),
    [
        (None, 30, False),
        (T0 - timedelta(days=30), 30, False),  # exactly the window: no longer a duplicate
        (T0 - timedelta(days=30) + timedelta(seconds=1), 30, True),  # one second inside
        (T0 - timedelta(days=29, hours=23), 30, True),
        (T0 - timedelta(seconds=1), 0, False),  # a zero window disables the rule
        (T0 - timedelta(days=1), 1, False),
        (T0 - timedelta(hours=23, minutes=59), 1, True),
    ],
)
def test_duplicate_window_edges(
    last_billed: datetime | None, window_days: int, duplicate: bool
) -> None:
    assert is_duplicate(last_billed, T0, window_days) is duplicate


@pytest.mark.parametrize(
    ("payout", "revenue", "expected"),
    [
        ({"fixed": "30.00"}, 4500, 3000),
        ({"share": "0.70"}, 4550, 3185),
        ({"share": "0.70"}, 4551, 3186),  # 3185.7
        ({"share": "0.50"}, 4501, 2250),  # 2250.5 → even
        ({"share": "0.50"}, 4503, 2252),  # 2251.5 → even
    ],
)
def test_payout_rule(payout: dict[str, str], revenue: int, expected: int) -> None:
    rule = PayoutRule.parse(payout)
    assert rule.payout_cents(revenue) == expected
    assert revenue - rule.payout_cents(revenue) + rule.payout_cents(revenue) == revenue


def test_floor_covers_payout_and_margin() -> None:
    assert floor_cents(PayoutRule.parse({"fixed": "30.00"}), 500, 0) == 3500
    assert floor_cents(PayoutRule.parse({"fixed": "30.00"}), 500, 4000) == 4000
    share = PayoutRule.parse({"share": "0.70"})
    floor = floor_cents(share, 500, 0)
    assert floor - share.payout_cents(floor) >= 500
    assert (floor - 1) - share.payout_cents(floor - 1) < 500


@pytest.mark.parametrize(
    ("payout", "min_bid", "min_margin", "allow", "ok"),
    [
        ({"fixed": "30.00"}, 3500, 500, False, True),
        ({"fixed": "30.00"}, 3000, 500, False, False),  # a 30.00 bid could lose the margin
        ({"fixed": "30.00"}, 2000, 0, False, False),  # payout exceeds a possible bid
        ({"fixed": "30.00"}, 2000, 0, True, True),  # explicitly allowed
        ({"share": "1.00"}, 0, 100, False, False),  # no margin is possible
        ({"share": "0.70"}, 0, 500, False, True),
    ],
)
def test_campaign_economics(
    payout: dict[str, str], min_bid: int, min_margin: int, allow: bool, ok: bool
) -> None:
    rule = PayoutRule.parse(payout)
    if ok:
        check_campaign_economics(rule, min_bid, min_margin, allow)
    else:
        with pytest.raises(ValidationError, match=r"bid|margin"):
            check_campaign_economics(rule, min_bid, min_margin, allow)


@pytest.mark.parametrize("bad", [{"share": "1.5"}, {"share": "-0.1"}, {"fixed": 30.0}, {}, []])
def test_bad_payout_rules(bad: object) -> None:
    with pytest.raises(ValidationError):
        PayoutRule.parse(bad)


def test_share_rule_round_trips_as_decimal() -> None:
    rule = PayoutRule.parse({"share": "0.70"})
    assert rule.share == Decimal("0.70")
    assert PayoutRule.from_dict(rule.to_dict()) == rule
