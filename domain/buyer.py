"""A buyer and its prepaid account: deposits, credit limit, and every ledger transfer that
touches the buyer (holds, posts, voids, reversals).

The account is the consistency boundary for funds, so the buyer is a hot aggregate: wins,
bills and voids for one buyer serialise on its version (handlers retry conflicts). Its state
stays O(1) — three totals — because a hold's life is tracked by the call that owns it. Each
money event records the account's totals after it (`balance`): the live balance replay checks.

Events are explicit classes (not `@event` methods) because they sit on the ping path, where
the decorator's signature inspection costs ~2.5× more per event.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import event

from domain.base import PPCXAggregate
from domain.errors import Conflict, InsufficientFunds
from domain.invariant import invariant
from domain.ledger import Transfer, buyer_account, deposit_transfer, hold_transfer
from domain.money import format_cents

PROFILE_ATTRIBUTES: tuple[str, ...] = ("name", "time_zone")  # a `ProfileChanged`'s keys


class Buyer(PPCXAggregate):
    if TYPE_CHECKING:  # state attributes (annotations here would make the library
        # generate an __init__ from them)
        Registered: type[PPCXAggregate.Created]  # made by `@event` on __init__
        name: str
        time_zone: str
        credit_limit_cents: int
        market: str
        debits_posted: int
        credits_posted: int
        debits_pending: int

    @event("Registered")
    def __init__(
        self,
        id: str,
        name: str,
        time_zone: str,
        credit_limit_cents: int,
        market: str,
        by: str,
        timestamp: datetime,
    ) -> None:
        self.name = name
        self.time_zone = time_zone
        self.credit_limit_cents = credit_limit_cents
        self.market = market
        self.debits_posted = 0
        self.credits_posted = 0
        self.debits_pending = 0

    # -- balances ---------------------------------------------------------------------------
    @property
    def posted_cents(self) -> int:
        return self.credits_posted - self.debits_posted

    @property
    def available_cents(self) -> int:
        return self.credits_posted - self.debits_posted - self.debits_pending

    def balance(self) -> dict[str, int]:
        return {
            "debits_posted": self.debits_posted,
            "credits_posted": self.credits_posted,
            "debits_pending": self.debits_pending,
        }

    def _check_floor(self) -> None:
        invariant(self.debits_pending >= 0, f"buyer {self.id}: negative pending debits")
        invariant(
            self.available_cents >= -self.credit_limit_cents,
            f"buyer {self.id}: available {self.available_cents} below minus credit limit "
            f"{self.credit_limit_cents}",
        )

    # -- events -----------------------------------------------------------------------------
    class CreditLimitChanged(PPCXAggregate.Event):
        credit_limit_cents: int
        by: str

        def apply(self, aggregate: Buyer) -> None:
            aggregate.credit_limit_cents = self.credit_limit_cents

    class ProfileChanged(PPCXAggregate.Event):
        """New values of the buyer's profile (`name`, `time_zone`): only those that changed."""

        changes: dict[str, Any]
        by: str

        def apply(self, aggregate: Buyer) -> None:
            for name, value in self.changes.items():
                setattr(aggregate, name, value)

    class FundsDeposited(PPCXAggregate.Event):
        transfer: dict[str, Any]
        amount_cents: int
        reference: str
        by: str
        balance: dict[str, int]

        def apply(self, aggregate: Buyer) -> None:
            aggregate.credits_posted += self.amount_cents

    class HoldPlaced(PPCXAggregate.Event):
        hold_id: str
        call_id: str
        publisher_id: str
        amount_cents: int
        payout_cents: int
        transfer: dict[str, Any]
        balance: dict[str, int]

        def apply(self, aggregate: Buyer) -> None:
            aggregate.debits_pending += self.amount_cents

    class HoldPosted(PPCXAggregate.Event):
        hold_id: str
        call_id: str
        amount_cents: int
        balance: dict[str, int]

        def apply(self, aggregate: Buyer) -> None:
            aggregate.debits_pending -= self.amount_cents
            aggregate.debits_posted += self.amount_cents

    class HoldVoided(PPCXAggregate.Event):
        hold_id: str
        call_id: str
        amount_cents: int
        reason: str
        balance: dict[str, int]

        def apply(self, aggregate: Buyer) -> None:
            aggregate.debits_pending -= self.amount_cents

    class TransferReversed(PPCXAggregate.Event):
        transfer: dict[str, Any]
        reversed_transfer_id: str
        call_id: str
        amount_cents: int
        reason: str
        by: str
        balance: dict[str, int]

        def apply(self, aggregate: Buyer) -> None:
            aggregate.credits_posted += self.amount_cents

    # -- commands ---------------------------------------------------------------------------
    def change_credit_limit(self, credit_limit_cents: int, by: str, at: datetime) -> None:
        if self.available_cents < -credit_limit_cents:
            raise Conflict(
                f"the buyer already uses {format_cents(-self.available_cents)} of credit; the "
                f"limit cannot go below that",
                field="credit_limit",
            )
        self.trigger_event(
            self.CreditLimitChanged, credit_limit_cents=credit_limit_cents, by=by, timestamp=at
        )
        self._check_floor()

    def change_profile(self, changes: dict[str, Any], by: str, at: datetime) -> None:
        invariant(set(changes) <= set(PROFILE_ATTRIBUTES), f"not a profile field: {changes}")
        self.trigger_event(self.ProfileChanged, changes=changes, by=by, timestamp=at)

    def deposit(
        self, transfer_id: str, amount_cents: int, reference: str, by: str, at: datetime
    ) -> Transfer:
        transfer = deposit_transfer(transfer_id, self.id, amount_cents)
        after = self.balance()
        after["credits_posted"] += amount_cents
        self.trigger_event(
            self.FundsDeposited,
            transfer=transfer.to_dict(),
            amount_cents=amount_cents,
            reference=reference,
            by=by,
            balance=after,
            timestamp=at,
        )
        self._check_floor()
        return transfer

    def place_hold(
        self,
        hold_id: str,
        call_id: str,
        publisher_id: str,
        price_cents: int,
        payout_cents: int,
        at: datetime,
    ) -> Transfer:
        """Reserve the price of a win; refused when it would overdraw the credit limit."""
        if self.available_cents - price_cents < -self.credit_limit_cents:
            raise InsufficientFunds(
                f"buyer {self.id} has {format_cents(self.available_cents)} available and a "
                f"credit limit of {format_cents(self.credit_limit_cents)}; cannot hold "
                f"{format_cents(price_cents)}"
            )
        transfer = hold_transfer(hold_id, self.id, publisher_id, price_cents, payout_cents)
        after = self.balance()
        after["debits_pending"] += price_cents
        self.trigger_event(
            self.HoldPlaced,
            hold_id=hold_id,
            call_id=call_id,
            publisher_id=publisher_id,
            amount_cents=price_cents,
            payout_cents=payout_cents,
            transfer=transfer.to_dict(),
            balance=after,
            timestamp=at,
        )
        self._check_floor()
        return transfer

    def post_hold(self, hold_id: str, call_id: str, amount_cents: int, at: datetime) -> None:
        invariant(self.debits_pending >= amount_cents, f"buyer {self.id}: posting more than held")
        after = self.balance()
        after["debits_pending"] -= amount_cents
        after["debits_posted"] += amount_cents
        self.trigger_event(
            self.HoldPosted,
            hold_id=hold_id,
            call_id=call_id,
            amount_cents=amount_cents,
            balance=after,
            timestamp=at,
        )
        self._check_floor()

    def void_hold(
        self, hold_id: str, call_id: str, amount_cents: int, reason: str, at: datetime
    ) -> None:
        invariant(self.debits_pending >= amount_cents, f"buyer {self.id}: voiding more than held")
        after = self.balance()
        after["debits_pending"] -= amount_cents
        self.trigger_event(
            self.HoldVoided,
            hold_id=hold_id,
            call_id=call_id,
            amount_cents=amount_cents,
            reason=reason,
            balance=after,
            timestamp=at,
        )
        self._check_floor()

    def reverse(
        self, original: Transfer, transfer_id: str, call_id: str, reason: str, by: str, at: datetime
    ) -> Transfer:
        """A dispute accepted by finance: the posted transfer, mirrored, as a new transfer."""
        reversal = original.reversed(transfer_id)
        account = buyer_account(self.id)
        amount_cents = sum(e.credit_cents for e in reversal.entries if e.account == account)
        invariant(amount_cents > 0, f"transfer {original.transfer_id} did not debit {self.id}")
        after = self.balance()
        after["credits_posted"] += amount_cents
        self.trigger_event(
            self.TransferReversed,
            transfer=reversal.to_dict(),
            reversed_transfer_id=original.transfer_id,
            call_id=call_id,
            amount_cents=amount_cents,
            reason=reason,
            by=by,
            balance=after,
            timestamp=at,
        )
        self._check_floor()
        return reversal
