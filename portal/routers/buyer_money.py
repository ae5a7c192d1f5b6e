"""Buyer pages: disputes (to follow them), billing (balances, holds, invoices with CSV) and
performance (spend and win rate by day, charted). Balances, invoices and disputes come from
the API's own route functions; the few projection queries here (open holds, performance by
day) are scoped to the signed-in buyer's own rows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from api.auth import services_of
from api.problems import Problem
from api.routers import buyers as api_buyers
from api.routers import finance, setup_reads
from api.services import ApiServices
from domain.api_key import Role
from domain.errors import NotFound
from domain.money import format_cents
from portal.pages import PageNotFound, Visitor, render, signed_in
from portal.routers.buyer_calls import PAGE_SIZE, unavailable
from projections.readers import NoProjections

router = APIRouter(include_in_schema=False)
buyer = signed_in(Role.BUYER)
DisputeState = Literal["open", "accepted", "rejected"]
DISPUTE_STATES: dict[str, DisputeState] = {
    "open": "open",
    "accepted": "accepted",
    "rejected": "rejected",
}
PERIODS = (7, 30, 90)


# -- disputes ----------------------------------------------------------------------------------


async def dispute_page(
    request: Request, v: Visitor, status: str, cursor: str | None
) -> dict[str, Any]:
    """A page of the disputes the visitor may see (the API's list), in `status` (any other
    word: every state): the page's context; `waiting` while nothing is projected yet."""
    items: list[dict[str, Any]] = []
    next_cursor = None
    waiting = False
    try:
        page = await setup_reads.list_disputes(
            status=DISPUTE_STATES.get(status),
            limit=PAGE_SIZE,
            cursor=cursor,
            who=v.principal,
            s=services_of(request),
        )
        items, next_cursor = page["items"], page["next_cursor"]
    except Problem as error:
        if not unavailable(error):
            raise
        waiting = True
    return {
        "disputes": items,
        "states": list(DISPUTE_STATES),
        "next_cursor": next_cursor,
        "paged": cursor is not None,
        "waiting": waiting,
    }


@router.get("/buyer/disputes")
async def disputes(request: Request, v: Visitor = Depends(buyer)) -> Response:
    status = request.query_params.get("status", "")
    context = await dispute_page(request, v, status, request.query_params.get("cursor") or None)
    context["status"] = status if status in DISPUTE_STATES else ""
    return render(request, v, "buyer/disputes.html", context)


# -- billing -----------------------------------------------------------------------------------


def month_range(text: str | None, today: date) -> tuple[datetime, datetime] | None:
    """`[first day, first day of the next month)` of a `YYYY-MM` month (UTC); None if bad."""
    try:
        first = (
            datetime.strptime(text, "%Y-%m").replace(tzinfo=UTC)
            if text
            else datetime(today.year, today.month, 1, tzinfo=UTC)
        )
    except ValueError:
        return None
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following


HOLDS_SQL = """
SELECT occurred_at, transfer_id, call_id, sum(debit_cents) AS amount_cents
FROM open_holds WHERE account = $account
GROUP BY ALL ORDER BY occurred_at DESC, transfer_id
"""


def _holds(s: ApiServices, account: str) -> list[dict[str, Any]]:
    """This buyer's holds not yet posted or voided (the projection keeps them apart)."""
    try:
        rows = s.reports.cursor().execute(HOLDS_SQL, {"account": account}).fetchall()
    except NoProjections:
        return []
    return [
        {
            "at": at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "transfer_id": transfer_id,
            "call_id": call_id,
            "amount": format_cents(int(amount)),
        }
        for at, transfer_id, call_id, amount in rows
    ]


async def _invoice(
    request: Request, v: Visitor, period: tuple[datetime, datetime]
) -> dict[str, Any] | None:
    """The API's invoice document for the period (None: no projections yet)."""
    start, end = period
    try:
        return await finance.invoice(
            str(v.principal.owner_id), start, end, who=v.principal, s=services_of(request)
        )
    except NotFound:
        raise PageNotFound() from None
    except Problem as error:
        if not unavailable(error):
            raise
        return None


@router.get("/buyer/billing")
async def billing(request: Request, v: Visitor = Depends(buyer)) -> Response:
    s = services_of(request)
    month = request.query_params.get("month") or None
    period = month_range(month, s.clock.now().date())
    errors = {} if period is not None else {"month": "choose a month as YYYY-MM, e.g. 2026-03"}
    try:
        account = await api_buyers.get_buyer(str(v.principal.owner_id), who=v.principal, s=s)
    except NotFound:
        raise PageNotFound() from None
    own = finance.own_account(v.principal) or ""
    context = {
        "account": account,
        "holds": await s.call(_holds, s, own),
        "month": month or (period[0].strftime("%Y-%m") if period else ""),
        "invoice": await _invoice(request, v, period) if period else None,
        "errors": errors,
    }
    return render(request, v, "buyer/billing.html", context, status_code=422 if errors else 200)


INVOICE_COLUMNS = ("at", "transfer_id", "kind", "call_id", "debit", "credit")


@router.get("/buyer/billing/invoice.csv")
async def invoice_csv(request: Request, v: Visitor = Depends(buyer)) -> Response:
    s = services_of(request)
    period = month_range(request.query_params.get("month"), s.clock.now().date())
    if period is None:
        raise PageNotFound()
    document = await _invoice(request, v, period)
    if document is None:
        raise Problem(503, "no projections yet: the invoice is not ready")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(INVOICE_COLUMNS)
    for line in document["lines"]:
        writer.writerow([line[c] if line[c] is not None else "" for c in INVOICE_COLUMNS])
    name = f"invoice-{v.principal.owner_id}-{period[0].strftime('%Y-%m')}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- performance -------------------------------------------------------------------------------

# Days are UTC days of the ping. Spend: what the buyer's calls were billed (less reversals,
# which the projection zeroes). Win rate: of the calls it bid on (a received bid, any of its
# targets), those routed to it.
SPEND_SQL = """
SELECT CAST(timezone('UTC', pinged_at) AS DATE) AS day,
       count(*) FILTER (WHERE billed AND NOT coalesce(reversed, false)) AS billed,
       coalesce(sum(revenue_cents), 0)::BIGINT AS spend_cents
FROM calls WHERE buyer_id = $buyer AND pinged_at >= $start AND pinged_at < $end
GROUP BY ALL
"""
WINS_SQL = """
SELECT day, count(*) AS bid_on, count(*) FILTER (WHERE won) AS won FROM (
    SELECT DISTINCT CAST(timezone('UTC', b.occurred_at) AS DATE) AS day, b.call_id,
           coalesce(c.buyer_id = $buyer AND c.accepted, false) AS won
    FROM bids b LEFT JOIN calls c USING (call_id)
    WHERE b.buyer_id = $buyer AND b.outcome = 'received'
      AND b.occurred_at >= $start AND b.occurred_at < $end
) GROUP BY day
"""


def _by_day(s: ApiServices, buyer_id: str, first: date, days: int) -> list[dict[str, Any]] | None:
    """Every day of the period, oldest first, with its spend and win rate (None: no data)."""
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    params = {"buyer": buyer_id, "start": start, "end": start + timedelta(days=days)}
    try:
        cursor = s.reports.cursor()
        spend = {r[0]: r[1:] for r in cursor.execute(SPEND_SQL, params).fetchall()}
        wins = {r[0]: r[1:] for r in cursor.execute(WINS_SQL, params).fetchall()}
    except NoProjections:
        return None
    rows = []
    for n in range(days):
        day = first + timedelta(days=n)
        billed, spend_cents = spend.get(day, (0, 0))
        bid_on, won = wins.get(day, (0, 0))
        rows.append(
            {
                "day": day.isoformat(),
                "billed": int(billed),
                "spend": format_cents(int(spend_cents)),
                "bid_on": int(bid_on),
                "won": int(won),
                "win_rate": f"{100 * won / bid_on:.1f}" if bid_on else None,
            }
        )
    return rows


@router.get("/buyer/performance")
async def performance(request: Request, v: Visitor = Depends(buyer)) -> Response:
    s = services_of(request)
    asked = request.query_params.get("days", "")
    days = int(asked) if asked.isdigit() and int(asked) in PERIODS else 30
    today = s.clock.now().astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    rows = await s.call(_by_day, s, str(v.principal.owner_id), first, days)
    context = {
        "rows": rows or [],
        "waiting": rows is None,
        "days": days,
        "periods": PERIODS,
        "chart": {
            "days": [r["day"] for r in rows or []],
            "spend": [r["spend"] for r in rows or []],
            "win_rate": [r["win_rate"] for r in rows or []],
        },
    }
    return render(request, v, "buyer/performance.html", context)
