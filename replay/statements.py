"""A buyer's invoice or a publisher's statement for a period, from the log alone: the posted
journal lines of one account (deposits, posted holds, reversals) folded from the buyers'
ledger events — the same `Statement` the API builds from the projections."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from domain.buyer import Buyer
from domain.catalog import Reads, name_of
from domain.ledger import Transfer
from domain.ledger_fold import OUTSIDE_THE_LEDGER
from projections.statements import Statement, StatementLine, build_statement
from replay.log import SelectChained, event_name, pages

POSTING = {name_of(Buyer.FundsDeposited): "deposit", name_of(Buyer.TransferReversed): "reversal"}
HOLD_PLACED = name_of(Buyer.HoldPlaced)
HOLD_POSTED = name_of(Buyer.HoldPosted)
READS = Reads(
    "replay.statements",
    handles=(
        Buyer.FundsDeposited,
        Buyer.TransferReversed,
        Buyer.HoldPlaced,
        Buyer.HoldPosted,
        Buyer.HoldVoided,
    ),
    ignores=(
        Buyer.Registered,  # a credit limit is no journal line
        Buyer.CreditLimitChanged,
        *OUTSIDE_THE_LEDGER,
    ),
)


def statement_from_log(
    select_chained: SelectChained, account: str, period_from: datetime, period_to: datetime
) -> Statement:
    holds: dict[str, Transfer] = {}
    opening = 0
    lines: list[StatementLine] = []

    def post(transfer: Transfer, kind: str, call_id: str | None, at: datetime) -> None:
        nonlocal opening
        for entry in transfer.entries:
            if entry.account != account:
                continue
            if at < period_from:
                opening += entry.credit_cents - entry.debit_cents
            elif at < period_to:
                lines.append(
                    StatementLine(
                        at,
                        transfer.transfer_id,
                        kind,
                        call_id,
                        entry.debit_cents,
                        entry.credit_cents,
                    )
                )

    for page in pages(select_chained):
        for _, _, _, topic, state, _ in page:
            if topic is None or state is None or topic not in READS.topics:
                continue
            name = event_name(topic)
            data: dict[str, Any] = orjson.loads(state)
            at = datetime.fromisoformat(data["timestamp"])
            if name in POSTING:
                post(Transfer.from_dict(data["transfer"]), POSTING[name], data.get("call_id"), at)
            elif name == HOLD_PLACED:
                holds[data["hold_id"]] = Transfer.from_dict(data["transfer"])
            elif name == HOLD_POSTED:
                post(holds.pop(data["hold_id"]), "post", data.get("call_id"), at)
            else:
                holds.pop(data["hold_id"], None)
    return build_statement(account, period_from, period_to, opening, lines)
