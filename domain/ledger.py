"""The double-entry ledger, TigerBeetle's model in pure Python.

Accounts keep four totals — debits and credits, posted and pending. A transfer is a set of
entries whose debits equal its credits; a *pending* transfer (a hold) is later *posted* in full
or *voided*. Account ids:

| account                 | kind                       | normal side |
|-------------------------|----------------------------|-------------|
| `platform:cash`         | asset: money received      | debit       |
| `buyer:<id>`            | liability: prepaid funds   | credit      |
| `publisher:<id>`        | liability: payouts owed    | credit      |
| `platform:revenue`      | income: the platform margin| credit      |

Money moves:

* deposit — debit cash, credit the buyer (posted);
* win — debit the buyer the price, credit the publisher its payout and revenue the margin
  (pending: a hold);
* billed — the hold is posted; not billable, expired or failed over — the hold is voided;
* dispute accepted — the reverse of the posted transfer, as a new posted transfer.

The signed balance of an account is debits − credits (posted + pending); every transfer sums
to zero, so the sum over all accounts is zero at every position of the log. A buyer's
*available* balance is credits posted − debits posted − debits pending, and it never goes
below minus the buyer's credit limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.invariant import invariant, present
from domain.money import require_cents

CASH = "platform:cash"
REVENUE = "platform:revenue"


def buyer_account(buyer_id: str) -> str:
    return f"buyer:{buyer_id}"


def publisher_account(publisher_id: str) -> str:
    return f"publisher:{publisher_id}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a transfer: exactly one of debit or credit is positive."""

    account: str
    debit_cents: int = 0
    credit_cents: int = 0

    def __post_init__(self) -> None:
        require_cents(self.debit_cents, "debit_cents")
        require_cents(self.credit_cents, "credit_cents")
        invariant(
            (self.debit_cents > 0) != (self.credit_cents > 0),
            f"an entry debits or credits, not both or neither: {self}",
        )

    def to_list(self) -> list[Any]:
        return [self.account, self.debit_cents, self.credit_cents]

    @classmethod
    def from_list(cls, data: Sequence[Any]) -> Entry:
        return cls(str(data[0]), int(data[1]), int(data[2]))


@dataclass(frozen=True, slots=True)
class Transfer:
    transfer_id: str
    entries: tuple[Entry, ...]

    def __post_init__(self) -> None:
        invariant(bool(self.entries), f"transfer {self.transfer_id} has no entries")
        debits = sum(e.debit_cents for e in self.entries)
        credits = sum(e.credit_cents for e in self.entries)
        invariant(
            debits == credits,
            f"transfer {self.transfer_id} does not balance: debits {debits} != credits {credits}",
        )

    @property
    def amount_cents(self) -> int:
        return sum(e.debit_cents for e in self.entries)

    def reversed(self, transfer_id: str) -> Transfer:
        return Transfer(
            transfer_id,
            tuple(Entry(e.account, e.credit_cents, e.debit_cents) for e in self.entries),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.transfer_id, "entries": [e.to_list() for e in self.entries]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transfer:
        return cls(str(data["id"]), tuple(Entry.from_list(e) for e in data["entries"]))


def deposit_transfer(transfer_id: str, buyer_id: str, amount_cents: int) -> Transfer:
    invariant(amount_cents > 0, "a deposit is positive")
    return Transfer(
        transfer_id,
        (
            Entry(CASH, debit_cents=amount_cents),
            Entry(buyer_account(buyer_id), credit_cents=amount_cents),
        ),
    )


def hold_transfer(
    hold_id: str, buyer_id: str, publisher_id: str, price_cents: int, payout_cents: int
) -> Transfer:
    """The pending transfer of a win: the buyer pays the price, split into the publisher's
    payout and the platform's margin (which may be negative only if the campaign allows it)."""
    invariant(price_cents > 0, "a hold is positive")
    require_cents(payout_cents, "payout_cents")
    margin_cents = price_cents - payout_cents
    entries = [Entry(buyer_account(buyer_id), debit_cents=price_cents)]
    if payout_cents:
        entries.append(Entry(publisher_account(publisher_id), credit_cents=payout_cents))
    if margin_cents > 0:
        entries.append(Entry(REVENUE, credit_cents=margin_cents))
    elif margin_cents < 0:  # the platform subsidises the payout
        entries.append(Entry(REVENUE, debit_cents=-margin_cents))
    return Transfer(hold_id, tuple(entries))


@dataclass(slots=True)
class Balance:
    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0

    @property
    def net_cents(self) -> int:
        """Signed balance, debits − credits, posted and pending together."""
        return self.debits_posted + self.debits_pending - self.credits_posted - self.credits_pending

    @property
    def posted_cents(self) -> int:
        """Credit-normal posted balance (what the platform owes on a liability account)."""
        return self.credits_posted - self.debits_posted

    @property
    def available_cents(self) -> int:
        """Credit-normal: posted credits less posted and pending debits."""
        return self.credits_posted - self.debits_posted - self.debits_pending

    def to_dict(self) -> dict[str, int]:
        return {
            "debits_posted": self.debits_posted,
            "credits_posted": self.credits_posted,
            "debits_pending": self.debits_pending,
            "credits_pending": self.credits_pending,
        }


@dataclass
class Ledger:
    """All accounts, rebuilt by applying transfers in log order (replay, projections, tests)."""

    balances: dict[str, Balance] = field(default_factory=dict)
    pending: dict[str, Transfer] = field(default_factory=dict)
    closed_holds: dict[str, str] = field(default_factory=dict)  # hold id -> "posted" | "voided"
    credit_limits: dict[str, int] = field(default_factory=dict)

    def balance(self, account: str) -> Balance:
        found = self.balances.get(account)
        if found is None:
            found = self.balances[account] = Balance()
        return found

    def _apply(self, transfer: Transfer, *, pending: bool, sign: int) -> None:
        for entry in transfer.entries:
            balance = self.balance(entry.account)
            if pending:
                balance.debits_pending += sign * entry.debit_cents
                balance.credits_pending += sign * entry.credit_cents
            else:
                balance.debits_posted += sign * entry.debit_cents
                balance.credits_posted += sign * entry.credit_cents

    def post(self, transfer: Transfer) -> None:
        """A transfer posted at once (deposit, reversal)."""
        invariant(transfer.transfer_id not in self.pending, "a posted transfer is not pending")
        self._apply(transfer, pending=False, sign=1)

    def hold(self, transfer: Transfer) -> None:
        hold_id = transfer.transfer_id
        invariant(hold_id not in self.pending, f"hold {hold_id} placed twice")
        invariant(hold_id not in self.closed_holds, f"hold {hold_id} reused after closing")
        self._apply(transfer, pending=True, sign=1)
        self.pending[hold_id] = transfer

    def post_hold(self, hold_id: str) -> Transfer:
        invariant(self.closed_holds.get(hold_id) != "posted", f"hold {hold_id} posted twice")
        transfer = present(self.pending.pop(hold_id, None), f"hold {hold_id} is not pending")
        self._apply(transfer, pending=True, sign=-1)
        self._apply(transfer, pending=False, sign=1)
        self.closed_holds[hold_id] = "posted"
        return transfer

    def void_hold(self, hold_id: str) -> Transfer:
        transfer = present(self.pending.pop(hold_id, None), f"hold {hold_id} is not pending")
        self._apply(transfer, pending=True, sign=-1)
        self.closed_holds[hold_id] = "voided"
        return transfer

    def total_net_cents(self) -> int:
        return sum(b.net_cents for b in self.balances.values())

    def check(self, buyer_ids: Iterable[str] = ()) -> None:
        """The ledger's global invariants (called by replay and tests)."""
        invariant(self.total_net_cents() == 0, "the sum over all accounts is not zero")
        for buyer_id in buyer_ids:
            limit = self.credit_limits.get(buyer_id, 0)
            available = self.balance(buyer_account(buyer_id)).available_cents
            invariant(
                available >= -limit,
                f"buyer {buyer_id} available {available} below minus its credit limit {limit}",
            )
