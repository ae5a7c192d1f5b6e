"""The replay's ledger fold on hand-made transfers: the rules `domain.ledger` keeps."""

from __future__ import annotations

from typing import Any

import pytest

from domain.invariant import InvariantViolation
from domain.ledger import deposit_transfer, hold_transfer
from replay.books import Books

BUYER = "buy_1"


def _deposit(books: Books, cents: int = 10_000) -> None:
    transfer = deposit_transfer("tx_1", BUYER, cents).to_dict()
    books.apply("Buyer.FundsDeposited", BUYER, {"transfer": transfer})


def _hold(books: Books, hold_id: str, price: int = 4500, payout: int = 3000) -> dict[str, Any]:
    transfer = hold_transfer(hold_id, BUYER, "pub_1", price, payout).to_dict()
    books.apply(
        "Buyer.HoldPlaced", BUYER, {"hold_id": hold_id, "call_id": "call_1", "transfer": transfer}
    )
    return transfer


def _reversal(transfer: dict[str, Any]) -> dict[str, Any]:
    mirrored = [[account, credit, debit] for account, debit, credit in transfer["entries"]]
    return {"transfer": {"id": "tx_r", "entries": mirrored}, "reversed_transfer_id": transfer["id"]}


def test_a_posted_hold_and_its_reversal_balance_to_zero() -> None:
    books = Books()
    _deposit(books)
    transfer = _hold(books, "hold_1")
    assert books.available_cents(BUYER) == 10_000 - 4500
    books.apply("Buyer.HoldPosted", BUYER, {"hold_id": "hold_1"})
    books.apply("Buyer.TransferReversed", BUYER, _reversal(transfer))
    assert books.available_cents(BUYER) == 10_000
    assert books.net_cents("platform:revenue") == 0
    assert books.total_net_cents() == 0
    assert books.pending_calls() == {}


def test_a_hold_is_posted_once_and_reversed_once() -> None:
    books = Books()
    _deposit(books)
    transfer = _hold(books, "hold_1")
    books.apply("Buyer.HoldPosted", BUYER, {"hold_id": "hold_1"})
    with pytest.raises(InvariantViolation, match="posted twice"):
        books.apply("Buyer.HoldPosted", BUYER, {"hold_id": "hold_1"})
    books.apply("Buyer.TransferReversed", BUYER, _reversal(transfer))
    with pytest.raises(InvariantViolation, match="left to reverse"):
        books.apply("Buyer.TransferReversed", BUYER, _reversal(transfer))


def test_only_a_posted_transfer_is_reversed() -> None:
    books = Books()
    _deposit(books)
    transfer = _hold(books, "hold_1")
    books.apply("Buyer.HoldVoided", BUYER, {"hold_id": "hold_1"})
    with pytest.raises(InvariantViolation, match="left to reverse"):
        books.apply("Buyer.TransferReversed", BUYER, _reversal(transfer))
    with pytest.raises(InvariantViolation, match="placed twice"):
        _hold(books, "hold_1")


@pytest.mark.parametrize(
    "entries",
    [
        [["platform:cash", 100, 0], ["buyer:buy_1", 0, 99]],  # does not balance
        [["platform:cash", 100, 100], ["buyer:buy_1", 0, 0]],  # both sides, then neither
        [["platform:cash", 1.5, 0], ["buyer:buy_1", 0, 1.5]],  # not integer cents
        [["platform:cash", -100, 0], ["buyer:buy_1", 0, -100]],  # negative
        [],
    ],
)
def test_malformed_transfers_are_refused(entries: list[list[Any]]) -> None:
    with pytest.raises(InvariantViolation):
        Books().apply("Buyer.FundsDeposited", BUYER, {"transfer": {"id": "t", "entries": entries}})
