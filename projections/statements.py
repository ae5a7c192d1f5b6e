"""Billing documents: a buyer's invoice and a publisher's statement for a period.

Both are the posted journal lines of one ledger account (`buyer:<id>` or `publisher:<id>`)
whose time falls in `[from, to)`, with the posted balance before and after. The API computes
them from the projected `ledger_entries`; `replay` computes them from the event log alone; both
build this one value so finance can compare them byte for byte (`to_dict`).

Balances are credit-normal (credits − debits): what the platform owes the account holder —
a buyer's prepaid funds left, a publisher's earnings not yet paid out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.clock import require_utc
from domain.invariant import invariant
from domain.money import format_cents


@dataclass(frozen=True, slots=True)
class StatementLine:
    at: datetime
    transfer_id: str
    kind: str  # deposit | post (a billed call) | reversal (an accepted dispute)
    call_id: str | None
    debit_cents: int
    credit_cents: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "transfer_id": self.transfer_id,
            "kind": self.kind,
            "call_id": self.call_id,
            "debit": format_cents(self.debit_cents),
            "credit": format_cents(self.credit_cents),
        }


@dataclass(frozen=True, slots=True)
class Statement:
    account: str
    period_from: datetime
    period_to: datetime
    opening_cents: int
    lines: tuple[StatementLine, ...]

    def __post_init__(self) -> None:
        require_utc(self.period_from, "from")
        require_utc(self.period_to, "to")
        invariant(self.period_from < self.period_to, "a statement period ends after it starts")

    @property
    def debits_cents(self) -> int:
        return sum(line.debit_cents for line in self.lines)

    @property
    def credits_cents(self) -> int:
        return sum(line.credit_cents for line in self.lines)

    @property
    def closing_cents(self) -> int:
        return self.opening_cents + self.credits_cents - self.debits_cents

    @property
    def billed_calls(self) -> int:
        return sum(1 for line in self.lines if line.kind == "post")

    def to_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "from": self.period_from.isoformat().replace("+00:00", "Z"),
            "to": self.period_to.isoformat().replace("+00:00", "Z"),
            "currency": "USD",
            "opening_balance": format_cents(self.opening_cents),
            "debits": format_cents(self.debits_cents),
            "credits": format_cents(self.credits_cents),
            "closing_balance": format_cents(self.closing_cents),
            "billed_calls": self.billed_calls,
            "lines": [line.to_dict() for line in self.lines],
        }


def build_statement(
    account: str,
    period_from: datetime,
    period_to: datetime,
    opening_cents: int,
    lines: Iterable[StatementLine],
) -> Statement:
    ordered: Sequence[StatementLine] = tuple(lines)
    for line in ordered:
        invariant(period_from <= line.at < period_to, "a statement line lies in its period")
    return Statement(account, period_from, period_to, opening_cents, tuple(ordered))


# The projected journal: posted lines of one account, in log order (notification, then entry).
LINES_SQL = """
SELECT occurred_at, transfer_id, kind, call_id, debit_cents, credit_cents
FROM ledger_entries
WHERE phase = 'posted' AND account = $account AND occurred_at >= $from AND occurred_at < $to
ORDER BY notification_id, line
"""
OPENING_SQL = """
SELECT coalesce(sum(credit_cents), 0) - coalesce(sum(debit_cents), 0)
FROM ledger_entries
WHERE phase = 'posted' AND account = $account AND occurred_at < $from
"""


def statement_from_projection(
    cursor: Any, account: str, period_from: datetime, period_to: datetime
) -> Statement:
    """The statement from a DuckDB cursor over the projections (API and tests)."""
    params = {"account": account, "from": period_from, "to": period_to}
    opening = cursor.execute(OPENING_SQL, {"account": account, "from": period_from}).fetchone()
    rows = cursor.execute(LINES_SQL, params).fetchall()
    lines = [
        StatementLine(
            at=at.astimezone(period_from.tzinfo),
            transfer_id=str(transfer_id),
            kind=str(kind),
            call_id=None if call_id is None else str(call_id),
            debit_cents=int(debit),
            credit_cents=int(credit),
        )
        for at, transfer_id, kind, call_id, debit, credit in rows
    ]
    return build_statement(account, period_from, period_to, int(opening[0]), lines)
