"""The ledger's rules (`domain.ledger`) applied to raw stored transfers at replay speed.

`domain.ledger.Ledger` builds an object per entry and validates it there; over a month of
log that dominates verification. This fold applies the same rules — each entry one positive
side in integer cents, debits equal credits, a hold placed once, closed once, posted at most
once, a reversal only of a posted transfer and only once — to the transfers' JSON lists
directly. A test checks that both give the same balances on the same log."""

from __future__ import annotations

from typing import Any

from domain.buyer import Buyer
from domain.catalog import Reads, name_of
from domain.invariant import InvariantViolation
from domain.ledger import buyer_account
from domain.ledger_fold import OUTSIDE_THE_LEDGER

DP, CP, DQ, CQ = 0, 1, 2, 3  # debits posted, credits posted, debits pending, credits pending
POSTED, VOIDED = "posted", "voided"
HOLD_PLACED = name_of(Buyer.HoldPlaced)
HOLD_POSTED = name_of(Buyer.HoldPosted)
HOLD_VOIDED = name_of(Buyer.HoldVoided)
FUNDS_DEPOSITED = name_of(Buyer.FundsDeposited)
TRANSFER_REVERSED = name_of(Buyer.TransferReversed)
LIMIT_SET = frozenset(name_of(c) for c in (Buyer.Registered, Buyer.CreditLimitChanged))
READS = Reads(
    "replay.books",
    handles=(
        Buyer.HoldPlaced,
        Buyer.HoldPosted,
        Buyer.HoldVoided,
        Buyer.FundsDeposited,
        Buyer.TransferReversed,
        Buyer.Registered,
        Buyer.CreditLimitChanged,
    ),
    ignores=OUTSIDE_THE_LEDGER,
)


class Books:
    def __init__(self) -> None:
        self.balances: dict[str, list[int]] = {}
        self.pending: dict[str, tuple[list[list[Any]], str]] = {}  # hold -> (entries, call)
        self.closed: dict[str, str] = {}  # hold id -> POSTED | VOIDED
        self.limits: dict[str, int] = {}
        self.reversed: set[str] = set()  # posted transfers reversed (an accepted dispute)

    @staticmethod
    def _entries(transfer: dict[str, Any]) -> list[list[Any]]:
        entries: list[list[Any]] = transfer["entries"]
        debits = credits = 0
        for entry in entries:
            account, debit, credit = entry
            if (
                type(debit) is not int
                or type(credit) is not int
                or debit < 0
                or credit < 0
                or (debit > 0) == (credit > 0)
                or type(account) is not str
            ):
                raise InvariantViolation(f"transfer {transfer.get('id')}: malformed entry {entry}")
            debits += debit
            credits += credit
        if debits != credits:
            raise InvariantViolation(
                f"transfer {transfer.get('id')} does not balance: "
                f"debits {debits}, credits {credits}"
            )
        if not entries:
            raise InvariantViolation(f"transfer {transfer.get('id')} has no entries")
        return entries

    def _move(self, entries: list[list[Any]], debit_at: int, credit_at: int, sign: int) -> None:
        balances = self.balances
        for account, debit, credit in entries:
            row = balances.get(account)
            if row is None:
                row = balances[account] = [0, 0, 0, 0]
            row[debit_at] += sign * debit
            row[credit_at] += sign * credit

    def apply(self, name: str, buyer_id: str, data: dict[str, Any]) -> None:
        if name == HOLD_PLACED:
            hold_id = data["hold_id"]
            if hold_id in self.pending or hold_id in self.closed:
                raise InvariantViolation(f"hold {hold_id} placed twice")
            entries = self._entries(data["transfer"])
            self._move(entries, DQ, CQ, 1)
            self.pending[hold_id] = (entries, data["call_id"])
        elif name in (HOLD_POSTED, HOLD_VOIDED):
            hold_id = data["hold_id"]
            if self.closed.get(hold_id) == POSTED:
                raise InvariantViolation(f"hold {hold_id} posted twice")
            found = self.pending.pop(hold_id, None)
            if found is None:
                raise InvariantViolation(f"hold {hold_id} is not pending")
            entries = found[0]
            self._move(entries, DQ, CQ, -1)
            if name == HOLD_POSTED:
                self._move(entries, DP, CP, 1)
                self.closed[hold_id] = POSTED
            else:
                self.closed[hold_id] = VOIDED
        elif name == FUNDS_DEPOSITED:
            self._move(self._entries(data["transfer"]), DP, CP, 1)
        elif name == TRANSFER_REVERSED:
            original = data["reversed_transfer_id"]
            if self.closed.get(original) != POSTED or original in self.reversed:
                raise InvariantViolation(f"{original} is not a posted transfer left to reverse")
            self._move(self._entries(data["transfer"]), DP, CP, 1)
            self.reversed.add(original)
        elif name in LIMIT_SET:
            self.limits[buyer_id] = int(data["credit_limit_cents"])

    def buyer_row(self, buyer_id: str) -> list[int]:
        """[debits posted, credits posted, debits pending, credits pending] of the buyer."""
        return self.balances.get(buyer_account(buyer_id)) or [0, 0, 0, 0]

    def buyer_balance(self, buyer_id: str) -> dict[str, int]:
        row = self.buyer_row(buyer_id)
        return {"debits_posted": row[DP], "credits_posted": row[CP], "debits_pending": row[DQ]}

    def pending_calls(self) -> dict[str, str]:
        """Each hold still pending → the call it was placed for."""
        return {hold_id: call_id for hold_id, (_, call_id) in self.pending.items()}

    def available_cents(self, buyer_id: str) -> int:
        row = self.buyer_row(buyer_id)
        return row[CP] - row[DP] - row[DQ]

    def net_cents(self, account: str) -> int:
        row = self.balances.get(account, [0, 0, 0, 0])
        return row[DP] + row[DQ] - row[CP] - row[CQ]

    def total_net_cents(self) -> int:
        return sum(r[DP] + r[DQ] - r[CP] - r[CQ] for r in self.balances.values())
