"""Finance: the ledger's accounts and journal (as of any time), invoices and statements, and
dispute resolution. Balances and documents come from the projected journal; a buyer or a
publisher reads only its own account."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query

from api.auth import Principal, owned, require, services
from api.models import DisputeResolvedOut, Page, ResolveIn
from api.params import JOURNAL_CURSOR, PAGE_LIMIT_DEFAULT, PageLimit, QueryTime
from api.problems import Problem
from api.services import ApiServices
from domain.api_key import Role
from domain.base import PPCXAggregate
from domain.buyer import Buyer
from domain.errors import NotFound
from domain.ids import call_of_dispute
from domain.ledger import buyer_account, publisher_account
from domain.limits import ACCOUNT_LENGTH_MAX
from domain.money import format_cents
from domain.publisher import Publisher
from handlers import parse
from projections.readers import NoProjections
from projections.reports import ledger_balances
from projections.statements import statement_from_projection

router = APIRouter(tags=["finance"])
readers = require(Role.PUBLISHER, Role.BUYER, Role.FINANCE, Role.ANALYST)
PLATFORM_ACCOUNTS = ("platform:cash", "platform:revenue")


def _z(at: datetime | None) -> str | None:
    """A time as the API writes it (UTC, `Z`); query times are already UTC (`QueryTime`)."""
    return at.isoformat().replace("+00:00", "Z") if at else None


def own_account(who: Principal) -> str | None:
    """The one account a tenant key may read (None: it may read every account)."""
    if who.role == Role.BUYER:
        return buyer_account(str(who.owner_id))
    if who.role == Role.PUBLISHER:
        return publisher_account(str(who.owner_id))
    return None


def _cursor(s: ApiServices) -> Any:
    try:
        return s.reports.cursor()
    except NoProjections:
        raise Problem(503, "no projections yet: run `ppcx project`") from None


def _balance_row(row: dict[str, Any]) -> dict[str, Any]:
    posted = row["credits_posted"] - row["debits_posted"]
    return {
        "account": row["account"],
        "debits_posted": format_cents(row["debits_posted"]),
        "credits_posted": format_cents(row["credits_posted"]),
        "debits_pending": format_cents(row["debits_pending"]),
        "credits_pending": format_cents(row["credits_pending"]),
        "posted": format_cents(posted),
        "pending": format_cents(row["debits_pending"] - row["credits_pending"]),
        "available": format_cents(posted - row["debits_pending"]),
    }


def _balances(s: ApiServices, as_of: datetime | None, account: str | None) -> list[dict[str, Any]]:
    result = ledger_balances(_cursor(s), as_of=as_of, account=account)
    return [_balance_row(r) for r in result.records()]


@router.get("/v1/ledger/accounts")
async def accounts(
    as_of: QueryTime | None = Query(default=None, description="RFC 3339 with an offset"),
    who: Principal = Depends(readers),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Every account's balances — posted, pending, available (credit-normal: what the
    platform owes the holder) — now or `as_of` a past time. A buyer or publisher sees its
    own account only."""
    rows = await s.call(_balances, s, as_of, own_account(who))
    return {"as_of": _z(as_of), "accounts": rows}


@router.get("/v1/ledger/accounts/{account}")
async def account(
    account: str,
    as_of: QueryTime | None = Query(default=None, description="RFC 3339 with an offset"),
    who: Principal = Depends(readers),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """One account (`buyer:<id>`, `publisher:<id>`, `platform:cash`, `platform:revenue`)."""
    mine = own_account(who)
    if mine is not None and account != mine:
        raise Problem(404, f"account {account!r} does not exist")
    rows = await s.call(_balances, s, as_of, account)
    if not rows:
        when = " at that time" if as_of else ""
        raise Problem(404, f"account {account!r} has no entries{when}")
    return {"as_of": _z(as_of), **rows[0]}


def _transfers(
    s: ApiServices, account: str | None, limit: int, after: int | None
) -> dict[str, Any]:
    where = ["true"]
    params: dict[str, Any] = {"limit": limit + 1}
    if account is not None:
        where.append("account = $account")
        params["account"] = account
    if after is not None:
        where.append("notification_id * 10000 + line > $after")
        params["after"] = after
    rows = (
        _cursor(s)
        .execute(
            "SELECT notification_id * 10000 + line, occurred_at, transfer_id, kind, phase, "
            "account, debit_cents, credit_cents, call_id FROM ledger_entries "
            f"WHERE {' AND '.join(where)} ORDER BY notification_id, line LIMIT $limit",
            params,
        )
        .fetchall()
    )
    items = [
        {
            "at": at.isoformat().replace("+00:00", "Z"),
            "transfer_id": transfer_id,
            "kind": kind,
            "phase": phase,
            "account": acct,
            "debit": format_cents(debit),
            "credit": format_cents(credit),
            "call_id": call_id,
        }
        for _, at, transfer_id, kind, phase, acct, debit, credit, call_id in rows[:limit]
    ]
    next_cursor = str(rows[limit - 1][0]) if len(rows) > limit else None
    return {"items": items, "next_cursor": next_cursor}


@router.get("/v1/ledger/transfers", response_model=Page)
async def transfers(
    account: str | None = Query(default=None, max_length=ACCOUNT_LENGTH_MAX),
    limit: PageLimit = PAGE_LIMIT_DEFAULT,
    cursor: str | None = Query(default=None, pattern=JOURNAL_CURSOR),
    who: Principal = Depends(readers),
    s: ApiServices = Depends(services),
) -> Page:
    """Journal lines in log order: deposits, holds (pending), their release, postings and
    reversals. A buyer or publisher sees the lines of its own account only."""
    mine = own_account(who)
    if mine is not None:
        if account not in (None, mine):
            raise Problem(404, f"account {account!r} does not exist")
        account = mine
    found = await s.call(_transfers, s, account, limit, int(cursor) if cursor else None)
    return Page(**found)


def _document(s: ApiServices, account_id: str, start: datetime, end: datetime) -> dict[str, Any]:
    return statement_from_projection(_cursor(s), account_id, start, end).to_dict()


async def _statement(
    s: ApiServices,
    who: Principal,
    holder: tuple[type[PPCXAggregate], str, str],
    account_id: str,
    start: datetime,
    end: datetime,
) -> dict[str, Any]:
    """`holder`: the account holder's class, id and the path's field for it. Another
    tenant's, an unknown and a malformed id are the same 404."""
    cls, holder_id, field = holder
    owned(who, holder_id, field)
    if await s.call(s.app.find, cls, holder_id) is None:
        raise NotFound(f"{field} {holder_id!r} does not exist", field=field)
    if start >= end:
        raise Problem(
            422, "`from` must be before `to`", errors=[{"field": "to", "message": "not after from"}]
        )
    return await s.call(_document, s, account_id, start, end)


@router.get("/v1/invoices/{buyer_id}")
async def invoice(
    buyer_id: str,
    start: QueryTime = Query(alias="from"),
    end: QueryTime = Query(alias="to"),
    who: Principal = Depends(require(Role.BUYER, Role.FINANCE)),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """A buyer's invoice for `[from, to)`: billed calls (debits), deposits and reversed
    disputes (credits), with the prepaid balance before and after. `replay statement`
    computes the same document from the log alone."""
    return await _statement(
        s, who, (Buyer, buyer_id, "buyer_id"), buyer_account(buyer_id), start, end
    )


@router.get("/v1/statements/{publisher_id}")
async def statement(
    publisher_id: str,
    start: QueryTime = Query(alias="from"),
    end: QueryTime = Query(alias="to"),
    who: Principal = Depends(require(Role.PUBLISHER, Role.FINANCE)),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """A publisher's statement for `[from, to)`: payouts earned (credits) and reversals
    (debits), with the balance owed before and after."""
    return await _statement(
        s,
        who,
        (Publisher, publisher_id, "publisher_id"),
        publisher_account(publisher_id),
        start,
        end,
    )


@router.post("/v1/disputes/{dispute_id}/resolve", response_model=DisputeResolvedOut)
async def resolve(
    dispute_id: str,
    body: ResolveIn,
    who: Principal = Depends(require(Role.FINANCE)),
    s: ApiServices = Depends(services),
) -> DisputeResolvedOut:
    """Accept a dispute (the billing is reversed by new ledger entries) or reject it."""
    call_id = call_of_dispute(dispute_id) or ""  # none: the handler answers NotFound
    command = parse.resolve_dispute(
        call_id=call_id, dispute_id=dispute_id, **body.model_dump(), by=who.by
    )
    result = await s.configured(s.calls.resolve_dispute, command)
    return DisputeResolvedOut(
        dispute_id=result.dispute_id,
        accepted=result.accepted,
        reversal_transfer_id=result.reversal_transfer_id,
    )
