"""Pure billing rules: what a publisher earns, when a buyer pays, and the auction floor.

* billable = answered, duration ≥ the target's buffer, not a duplicate of the same caller for
  the same buyer within the campaign's window, and the caller not blocked; since version 2,
  a buzzer-beater (`domain.call_flags`: the buyer hung up within the campaign's margin before
  the buffer) is billable too when its campaign says so (`bill_buzzer_beaters`);
* revenue = the winning price; payout = fixed, or a `Decimal` share rounded half-even to cents;
  margin = revenue − payout, exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.call_state import BillingReason
from domain.errors import ValidationError
from domain.invariant import invariant, present
from domain.money import format_cents, parse_cents, parse_share, require_cents, share_of

# stored as `rules_version` in CallBilled / CallNotBilled; replay re-runs each bill by the
# version it recorded (1: before buzzer-beaters could be billed)
BILLING_RULES_VERSION = 2
BILLING_RULES_VERSIONS = (1, 2)
BUZZER_BEATERS_BILLABLE_SINCE = 2  # the version from which a campaign may bill buzzer-beaters


@dataclass(frozen=True, slots=True)
class PayoutRule:
    """What the publisher earns on a billable call: a fixed amount or a share of revenue."""

    fixed_cents: int | None = None
    share: Decimal | None = None

    def __post_init__(self) -> None:
        invariant((self.fixed_cents is None) != (self.share is None), "exactly one payout kind")

    @classmethod
    def parse(cls, data: object) -> PayoutRule:
        if not isinstance(data, Mapping) or len(data) != 1 or not ({"fixed", "share"} & set(data)):
            raise ValidationError(
                'publisher_payout must be {"fixed": "30.00"} or {"share": "0.70"}',
                field="publisher_payout",
            )
        if "fixed" in data:
            return cls(fixed_cents=parse_cents(data["fixed"], "publisher_payout.fixed"))
        return cls(share=parse_share(data["share"], "publisher_payout.share"))

    def payout_cents(self, revenue_cents: int) -> int:
        require_cents(revenue_cents, "revenue_cents")
        if self.fixed_cents is not None:
            return self.fixed_cents
        return share_of(revenue_cents, present(self.share, "a payout is fixed or a share"))

    def to_dict(self) -> dict[str, Any]:
        if self.fixed_cents is not None:
            return {"fixed_cents": self.fixed_cents}
        return {"share": str(self.share)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PayoutRule:
        if data.get("fixed_cents") is not None:
            return cls(fixed_cents=int(data["fixed_cents"]))
        return cls(share=Decimal(str(data["share"])))

    def describe(self) -> dict[str, str]:
        if self.fixed_cents is not None:
            return {"fixed": format_cents(self.fixed_cents)}
        return {"share": str(self.share)}


def floor_cents(rule: PayoutRule, min_margin_cents: int, min_bid_cents: int) -> int:
    """The lowest price that covers the publisher's payout plus the minimum margin, and the
    campaign's minimum bid. With a share, margin grows with price, so the first price whose
    rounded margin reaches the minimum is the floor."""
    require_cents(min_margin_cents, "min_margin_cents", allow_negative=True)
    if rule.fixed_cents is not None:
        return max(min_bid_cents, rule.fixed_cents + min_margin_cents, 0)
    share = present(rule.share, "a payout is fixed or a share")
    if min_margin_cents <= 0:
        return max(min_bid_cents, 0)
    keep = Decimal(1) - share
    if keep <= 0:
        raise ValidationError(
            "a 100% revenue share leaves no margin; lower the share or the minimum margin",
            field="publisher_payout.share",
        )
    price = max(int(Decimal(min_margin_cents) / keep) - 1, 0)
    while price - rule.payout_cents(price) < min_margin_cents:
        price += 1
    return max(min_bid_cents, price)


def check_campaign_economics(
    rule: PayoutRule, min_bid_cents: int, min_margin_cents: int, allow_negative_margin: bool
) -> None:
    """Refuse a campaign whose fixed payout could exceed a bid, unless it says it may."""
    if allow_negative_margin:
        return
    if min_margin_cents < 0:
        raise ValidationError(
            "a negative minimum margin needs allow_negative_margin", field="min_margin"
        )
    if rule.fixed_cents is not None and min_bid_cents < rule.fixed_cents + min_margin_cents:
        raise ValidationError(
            f"the fixed payout {format_cents(rule.fixed_cents)} plus the minimum margin "
            f"{format_cents(min_margin_cents)} exceeds the minimum bid "
            f"{format_cents(min_bid_cents)}: a bid could lose money. Raise min_bid, lower the "
            "payout, or set allow_negative_margin",
            field="min_bid",
        )
    floor_cents(rule, min_margin_cents, min_bid_cents)  # raises for an impossible share


def is_duplicate(last_billed_at: datetime | None, at: datetime, window_days: int) -> bool:
    """A call is a duplicate when the same caller's last billed call with the same buyer on
    the same campaign lies less than `window_days` before it (exactly the window: not one)."""
    if window_days <= 0 or last_billed_at is None:
        return False
    return at - last_billed_at < timedelta(days=window_days)


@dataclass(frozen=True, slots=True)
class BillingDecision:
    billable: bool
    reason: BillingReason
    revenue_cents: int
    payout_cents: int
    margin_cents: int


def billing_decision(
    *,
    answered: bool,
    duration_s: int,
    buffer_s: int,
    duplicate: bool,
    blocked: bool,
    price_cents: int,
    payout_cents: int,
    buzzer_beater: bool = False,
    bill_buzzer_beaters: bool = False,
    rules_version: int = BILLING_RULES_VERSION,
) -> BillingDecision:
    """The billing decision for a completed call (pure; replay re-runs it by the version each
    bill recorded). `buzzer_beater`: the call is flagged so (`domain.call_flags`);
    `bill_buzzer_beaters`: its campaign bills such calls (version 2 on)."""
    invariant(rules_version in BILLING_RULES_VERSIONS, f"billing rules {rules_version} exist")
    require_cents(price_cents, "price_cents")
    require_cents(payout_cents, "payout_cents")
    not_billable: BillingReason | None = None
    if not answered:
        not_billable = BillingReason.NOT_ANSWERED
    elif blocked:
        not_billable = BillingReason.BLOCKED
    elif duplicate:
        not_billable = BillingReason.DUPLICATE
    elif duration_s < buffer_s and not (
        rules_version >= BUZZER_BEATERS_BILLABLE_SINCE and buzzer_beater and bill_buzzer_beaters
    ):
        not_billable = BillingReason.BELOW_BUFFER
    if not_billable is not None:
        return BillingDecision(False, not_billable, 0, 0, 0)
    margin_cents = price_cents - payout_cents
    decision = BillingDecision(
        True, BillingReason.BILLABLE, price_cents, payout_cents, margin_cents
    )
    invariant(
        decision.revenue_cents == decision.payout_cents + decision.margin_cents,
        "revenue must equal payout plus margin",
    )
    return decision
