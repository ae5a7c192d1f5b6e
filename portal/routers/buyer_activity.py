"""Buyer pages (portal part 1): calls and their timelines, conversions, disputes, billing and
performance. Each page reads and writes through the API's own route functions, so tenancy,
redaction, checks and messages are the API's; the few projection queries here (open holds,
performance by day) are scoped to the signed-in buyer's own rows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError as ShapeError

from api.auth import services_of
from api.models import ConversionIn, DisputeIn
from api.problems import Problem
from api.routers import buyers as api_buyers
from api.routers import calls as api_calls
from api.routers import finance, setup_reads
from api.services import ApiServices
from domain.api_key import Role
from domain.errors import Conflict, DomainError, NotFound
from domain.money import format_cents
from portal.forms import field_errors
from portal.pages import PageNotFound, Visitor, posted, redirect, render, signed_in
from projections.readers import NoProjections

router = APIRouter(include_in_schema=False)
buyer = signed_in(Role.BUYER)
PAGE_SIZE = 50
YES_NO = {"yes": True, "no": False}
FILTERS = ("billed", "converted", "disputed")
DisputeState = Literal["open", "accepted", "rejected"]
DISPUTE_STATES: dict[str, DisputeState] = {
    "open": "open",
    "accepted": "accepted",
    "rejected": "rejected",
}
PERIODS = (7, 30, 90)
EVENT_NAMES = {
    "PingReceived": "Ping received",
    "BidReceived": "Your bid",
    "BidRejected": "Your bid was rejected",
    "BidTimedOut": "Your bid timed out",
    "AuctionDecided": "Auction decided: you won",
    "PingExpired": "Ping expired (never posted)",
    "PostRefused": "Post refused",
    "CallPosted": "Call posted",
    "CallRouted": "Routed to you",
    "CallAnswered": "Answered",
    "CallFailedOver": "Failed over",
    "CallCompleted": "Completed",
    "CallBilled": "Billed",
    "CallNotBilled": "Not billed",
    "CallConverted": "Converted",
    "CallDisputed": "Disputed",
    "DisputeResolved": "Dispute resolved",
}
BILLING_REASONS = {
    "billable": "billable: the call lasted at least its buffer",
    "not_answered": "not answered",
    "blocked": "the caller is blocked",
    "duplicate": "a repeat caller (duplicate of an earlier call billed to you)",
    "below_buffer": "shorter than the buffer",
}
# not listed with an event's fields: its envelope, and the buyer's own id
_QUIET = frozenset(
    {
        "type",
        "version",
        "timestamp",
        "originator_id",
        "class_version",
        "buyer_id",
        "winner_buyer_id",
    }
)


def _unavailable(error: Problem) -> bool:
    """The projections have not been built yet (the API's 503): the page says so."""
    return error.status == 503


# -- calls -------------------------------------------------------------------------------------


def _call_filters(request: Request) -> dict[str, str]:
    q = request.query_params
    found = {name: q.get(name, "") for name in ("campaign", *FILTERS)}
    return {k: v for k, v in found.items() if v and (k == "campaign" or v in YES_NO)}


async def _campaigns(request: Request, v: Visitor) -> list[str]:
    """The campaigns this buyer has targets on (the filter's choices)."""
    page = await setup_reads.list_targets(
        campaign_id=None,
        buyer_id=None,
        status=None,
        limit=1000,
        cursor=None,
        who=v.principal,
        s=services_of(request),
    )
    return sorted({t["campaign_id"] for t in page["items"]})


@router.get("/buyer/calls")
async def calls(request: Request, v: Visitor = Depends(buyer)) -> Response:
    s = services_of(request)
    chosen = _call_filters(request)
    cursor = request.query_params.get("cursor") or None
    flags = {k: YES_NO[chosen[k]] for k in FILTERS if k in chosen}
    items: list[dict[str, Any]] = []
    next_cursor = None
    waiting = False
    try:
        page = await s.call(
            api_calls.list_calls,
            s,
            v.principal,
            PAGE_SIZE,
            cursor,
            chosen.get("campaign"),
            flags,
        )
        items, next_cursor = page.items, page.next_cursor
    except Problem as error:
        if not _unavailable(error):
            raise
        waiting = True
    context = {
        "calls": items,
        "chosen": chosen,
        "campaigns": await _campaigns(request, v),
        "next_cursor": next_cursor,
        "paged": cursor is not None,
        "waiting": waiting,
    }
    return render(request, v, "buyer/calls.html", context)


def _detail(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_detail(v)}" for k, v in value.items() if v not in (None, ""))
    if isinstance(value, list):
        return ", ".join(_detail(v) for v in value)
    return str(value)


def _step(event: dict[str, Any]) -> dict[str, Any]:
    """One event of the timeline as the page lists it: what happened, when, and its fields."""
    kind = str(event["type"])
    return {
        "type": kind,
        "name": EVENT_NAMES.get(kind, kind),
        "at": str(event.get("timestamp", ""))[:19].replace("T", " "),
        "details": {
            k.replace("_", " "): _detail(val)
            for k, val in event.items()
            if k not in _QUIET and val not in (None, "", [], {})
        },
    }


def _summary(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The facts the page heads with: bids, billing and its reason, conversion, dispute."""
    last = {str(e["type"]): e for e in events}
    billed, not_billed = last.get("CallBilled"), last.get("CallNotBilled")
    billing = None
    if billed is not None:
        billing = {
            "billed": True,
            "amount": billed.get("revenue"),
            "reason": BILLING_REASONS["billable"],
            "duration_s": billed.get("duration_s"),
            "buffer_s": billed.get("buffer_s"),
        }
    elif not_billed is not None:
        reason = str(not_billed.get("reason", ""))
        billing = {
            "billed": False,
            "amount": None,
            "reason": BILLING_REASONS.get(reason, reason),
            "duration_s": not_billed.get("duration_s"),
            "buffer_s": not_billed.get("buffer_s"),
        }
    disputes: dict[str, dict[str, Any]] = {}
    for e in events:
        if e["type"] == "CallDisputed":
            disputes[e["dispute_id"]] = {"id": e["dispute_id"], "status": "open"}
        elif e["type"] == "DisputeResolved" and e.get("dispute_id") in disputes:
            status = "accepted" if e.get("accepted") else "rejected"
            disputes[e["dispute_id"]]["status"] = status
    return {
        "bids": [e.get("amount") for e in events if e["type"] == "BidReceived"],
        "billing": billing,
        "converted": "CallConverted" in last,
        "conversion_value": (last.get("CallConverted") or {}).get("value"),
        "disputes": list(disputes.values()),
        # the API decides; the page offers the form only where it could succeed
        "can_dispute": billed is not None
        and not any(d["status"] in ("open", "accepted") for d in disputes.values()),
    }


async def _timeline(request: Request, v: Visitor, call_id: str) -> dict[str, Any]:
    try:
        found = await api_calls.call_timeline(call_id, who=v.principal, s=services_of(request))
    except NotFound:
        raise PageNotFound() from None
    return found.model_dump()


async def _call_page(
    request: Request,
    v: Visitor,
    call_id: str,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    failed: str = "",
    status_code: int = 200,
) -> Response:
    timeline = await _timeline(request, v, call_id)
    events = timeline["events"]
    context = {
        "call": timeline,
        "steps": [_step(e) for e in events],
        "summary": _summary(events),
        "form": form or {},
        "errors": errors or {},
        "failed": failed,  # which form the errors are of: "conversion" or "dispute"
        "done": request.query_params.get("done", ""),
    }
    return render(request, v, "buyer/call.html", context, status_code=status_code)


@router.get("/buyer/calls/{call_id}")
async def call(request: Request, call_id: str, v: Visitor = Depends(buyer)) -> Response:
    return await _call_page(request, v, call_id)


def _refused(error: Exception) -> int:
    """A refused command's status: 409 when the call's state forbids it, 422 for bad input."""
    return 409 if isinstance(error, Conflict) else 422


@router.post("/buyer/calls/{call_id}/conversion")
async def conversion(request: Request, call_id: str, v: Visitor = Depends(buyer)) -> Response:
    form = {k: str(val) for k, val in (await posted(request, v)).items() if k != "csrf"}
    value = form.get("value", "").strip()
    try:
        body = ConversionIn.model_validate({"value": value} if value else {})
        await api_buyers.conversion(call_id, body, who=v.principal, s=services_of(request))
    except NotFound:
        raise PageNotFound() from None
    except (DomainError, ShapeError) as error:
        return await _call_page(
            request,
            v,
            call_id,
            form=form,
            errors=field_errors(error),
            failed="conversion",
            status_code=_refused(error),
        )
    return redirect(f"/buyer/calls/{call_id}?done=conversion")


@router.post("/buyer/calls/{call_id}/dispute")
async def dispute(request: Request, call_id: str, v: Visitor = Depends(buyer)) -> Response:
    form = {k: str(val) for k, val in (await posted(request, v)).items() if k != "csrf"}
    try:
        body = DisputeIn.model_validate({"reason": form.get("reason", "")})
        await api_buyers.dispute(call_id, body, request, who=v.principal, s=services_of(request))
    except NotFound:
        raise PageNotFound() from None
    except (DomainError, ShapeError) as error:
        return await _call_page(
            request,
            v,
            call_id,
            form=form,
            errors=field_errors(error),
            failed="dispute",
            status_code=_refused(error),
        )
    return redirect(f"/buyer/calls/{call_id}?done=dispute")


# -- disputes ----------------------------------------------------------------------------------


@router.get("/buyer/disputes")
async def disputes(request: Request, v: Visitor = Depends(buyer)) -> Response:
    status = request.query_params.get("status", "")
    cursor = request.query_params.get("cursor") or None
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
        if not _unavailable(error):
            raise
        waiting = True
    context = {
        "disputes": items,
        "status": status if status in DISPUTE_STATES else "",
        "states": list(DISPUTE_STATES),
        "next_cursor": next_cursor,
        "paged": cursor is not None,
        "waiting": waiting,
    }
    return render(request, v, "buyer/disputes.html", context)


# -- billing -----------------------------------------------------------------------------------


def _month(text: str | None, today: date) -> tuple[datetime, datetime] | None:
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
        if not _unavailable(error):
            raise
        return None


@router.get("/buyer/billing")
async def billing(request: Request, v: Visitor = Depends(buyer)) -> Response:
    s = services_of(request)
    month = request.query_params.get("month") or None
    period = _month(month, s.clock.now().date())
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
    period = _month(request.query_params.get("month"), s.clock.now().date())
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
