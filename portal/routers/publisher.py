"""Publisher pages: the campaigns it may send to, its pings and calls (each refusal and
non-billing in words, one call's timeline), its statement (with a CSV download), its tracking
numbers and DNI pools with the snippet to paste. Every page reads through the API's own route
functions, so tenancy and redaction are the API's: a publisher never sees a buyer's identity,
bid, price or revenue."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from api.auth import services_of
from api.problems import Problem
from api.routers import calls as api_calls
from api.routers import finance, setup_reads
from domain.api_key import Role
from domain.call_state import BillingReason, NoBuyerReason, PostRefusal
from domain.errors import NotFound
from domain.limits import PAGE_LIMIT
from portal import live
from portal.pages import PageNotFound, Visitor, portal_of, render, signed_in
from portal.routers.buyer_calls import too_soon, unavailable, unless_unavailable

router = APIRouter(include_in_schema=False)
publisher = signed_in(Role.PUBLISHER)
PAGE = PAGE_LIMIT.maximum
CALLS_PAGE = 100
# why a ping found no buyer, in the publisher's words (`no_buyer_reason`)
NO_BUYER_WORDS: dict[str, str] = {
    NoBuyerReason.NO_ELIGIBLE_BUYER: "no buyer could take it (paused, closed at that hour, "
    "outside their area, at a cap or out of funds)",
    NoBuyerReason.BLOCKED: "the caller is on the block list",
    NoBuyerReason.BELOW_FLOOR: "every bid was below the campaign's floor",
    NoBuyerReason.TIMED_OUT: "the buyers asked in real time did not answer in time",
    NoBuyerReason.NO_BID: "the buyers asked in real time declined to bid",
    NoBuyerReason.DUPLICATE: "duplicate caller: every buyer already paid for this caller "
    "within the campaign's duplicate window",
}
# why a call was not billed (`not_billed_reason`)
NOT_BILLED_WORDS: dict[str, str] = {
    BillingReason.NOT_ANSWERED: "the call was not answered",
    BillingReason.BLOCKED: "the caller is on the block list",
    BillingReason.DUPLICATE: "duplicate: the same caller was already billed within the "
    "campaign's duplicate window",
    BillingReason.BELOW_BUFFER: "the call was shorter than the minimum billable duration",
    BillingReason.BILLABLE: "billable",
}
# why a post was refused (`post_refused_reason`)
POST_REFUSED_WORDS: dict[str, str] = {
    PostRefusal.BLOCKED: "the caller was put on the block list before the call was posted",
}
OUTCOMES = {
    "all": "All",
    "refused": "Refused or no buyer",
    "billed": "Billed",
    "not_billed": "Not billed",
}
# the list's outcome filters as the API's SQL applies them (`api.routers.calls.OUTCOMES`),
# for the live rows read from the log
_OUTCOME_FILTERS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "all": lambda c: True,
    "refused": lambda c: c.get("accepted") is False,
    "billed": lambda c: c.get("billed") is True,
    "not_billed": lambda c: bool(c.get("accepted")) and c.get("billed") is False,
}
CSV_COLUMNS = ("at", "kind", "call_id", "debit", "credit")
KIND_WORDS = {"post": "payout (billed call)", "reversal": "reversal (dispute accepted)"}
_WORD = re.compile(r"(?<!^)(?=[A-Z])")
_HIDDEN_FIELDS = frozenset({"type", "version", "originator_id", "timestamp"})


def words(reason: str | None, table: dict[str, str]) -> str:
    """A reason code in words (an unknown one as it is: never hidden)."""
    return "" if reason is None else table.get(reason, reason.replace("_", " "))


def outcome_of(call: dict[str, Any]) -> tuple[str, str, str]:
    """(outcome, why, css class): what became of a ping, in words, never by colour alone; the
    first of `_OUTCOME_RULES` that matches."""
    for matches, outcome, why, css in _OUTCOME_RULES:
        if matches(call):
            return outcome, why(call), css
    return "Pending", "", ""


def _nothing(call: dict[str, Any]) -> str:
    return ""


_OUTCOME_RULES: tuple[
    tuple[Callable[[dict[str, Any]], bool], str, Callable[[dict[str, Any]], str], str], ...
] = (
    (
        lambda c: c.get("accepted") is False,
        "Refused",
        lambda c: words(c.get("no_buyer_reason"), NO_BUYER_WORDS),
        "status-refused",
    ),
    (
        lambda c: bool(c.get("disqualified_question_id")),
        "Disqualified",
        lambda c: (
            f"failed the IVR question {c['disqualified_question_id']!r}"
            + (
                " (sent to the fallback number)"
                if c.get("disqualified_action") == "fallback"
                else ""
            )
        ),
        "status-refused",
    ),
    (
        lambda c: bool(c.get("post_refused_reason")),
        "Post refused",
        lambda c: words(c.get("post_refused_reason"), POST_REFUSED_WORDS),
        "status-refused",
    ),
    (lambda c: c.get("billed") is True, "Billed", _nothing, "status-good"),
    (
        lambda c: c.get("billed") is False,
        "Not billed",
        lambda c: words(c.get("not_billed_reason"), NOT_BILLED_WORDS),
        "status-refused",
    ),
    (lambda c: bool(c.get("posted")), "In progress", _nothing, ""),
    (
        lambda c: bool(c.get("expired")),
        "Expired",
        lambda c: "the offer was not posted before it expired",
        "status-refused",
    ),
    (lambda c: bool(c.get("accepted")), "Offered", lambda c: "not posted (yet)", ""),
)


def _when(text: str | None) -> str:
    """An API time ("…Z" or "…+00:00", always UTC) as the pages write it."""
    if not text:
        return ""
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


async def _campaigns(request: Request, v: Visitor) -> list[dict[str, Any]]:
    page = await setup_reads.list_campaigns(
        limit=PAGE, cursor=None, who=v.principal, s=services_of(request)
    )
    items: list[dict[str, Any]] = page["items"]
    return items


@router.get("/publisher/campaigns")
async def campaigns(request: Request, v: Visitor = Depends(publisher)) -> Response:
    return render(
        request, v, "publisher/campaigns.html", {"campaigns": await _campaigns(request, v)}
    )


@router.get("/publisher/calls")
async def calls(request: Request, v: Visitor = Depends(publisher)) -> Response:
    context = await _calls_context(request, v)
    # no projections yet: no choices, the live list still shows
    context["campaigns"] = await unless_unavailable(_campaigns(request, v), [])
    return render(request, v, "publisher/calls.html", context)


@router.get("/publisher/calls/live")
async def calls_live(request: Request, v: Visitor = Depends(publisher)) -> Response:
    """The list's first page again, for the page's poll (`portal.live`)."""
    if await too_soon(request, v):
        return Response(status_code=204)
    context = await _calls_context(request, v, first_page=True)
    return render(request, v, "publisher/_calls_list.html", context)


async def _calls_context(
    request: Request, v: Visitor, *, first_page: bool = False
) -> dict[str, Any]:
    s = services_of(request)
    query = request.query_params
    campaign_id = query.get("campaign_id") or None
    outcome = query.get("outcome") or "all"
    if outcome not in OUTCOMES:
        outcome = "all"
    cursor = None if first_page else query.get("cursor") or None
    items: list[dict[str, Any]] = []
    next_cursor = None
    try:
        page = await s.call(
            api_calls.list_calls,
            s,
            v.principal,
            CALLS_PAGE,
            cursor,
            campaign_id,
            outcome=None if outcome == "all" else outcome,
        )
        items, next_cursor = page.items, page.next_cursor
    except Problem as error:
        if not unavailable(error):
            raise
    behind = False
    if cursor is None:  # the first page is live: the calls the projections have not reached
        items, behind = await s.call(live.live_items, s, v.principal, items)
        wanted = _OUTCOME_FILTERS[outcome]
        items = [i for i in items if live.matches(i, {}, campaign_id) and wanted(i)][:CALLS_PAGE]
    rows = []
    for call in items:
        shown, why, css = outcome_of(call)
        rows.append(
            {**call, "outcome": shown, "why": why, "css": css, "at": _when(call["pinged_at"])}
        )
    filters = {"campaign_id": campaign_id or "", "outcome": outcome}
    return {
        "calls": rows,
        "filters": filters,
        "outcomes": OUTCOMES,
        "next_cursor": next_cursor,
        "paged": cursor is not None,
        "behind": behind,
        "live_ms": live.LIVE_POLL_MS,
    }


def _detail(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def timeline_row(event: dict[str, Any]) -> dict[str, Any]:
    """One event as the page shows it: its name in words, its time, its other fields (the
    API's redaction already left only what the publisher may see)."""
    reason = event.get("reason")
    if event["type"] == "NoBuyerFound":
        reason = words(reason, NO_BUYER_WORDS)
    elif event["type"] == "CallNotBilled":
        reason = words(reason, NOT_BILLED_WORDS)
    details = {
        k.replace("_", " "): _detail(val)
        for k, val in event.items()
        if k not in _HIDDEN_FIELDS and k != "reason" and val not in (None, {}, [])
    }
    return {
        "name": _WORD.sub(" ", event["type"]).capitalize(),
        "at": _when(event.get("timestamp")),
        "reason": reason,
        "details": details,
    }


@router.get("/publisher/calls/{call_id}")
async def call(request: Request, call_id: str, v: Visitor = Depends(publisher)) -> Response:
    try:
        found = await api_calls.call_timeline(call_id, who=v.principal, s=services_of(request))
    except NotFound:
        raise PageNotFound() from None
    context = {
        "call_id": found.call_id,
        "status": found.status.replace("_", " "),
        "events": [timeline_row(e) for e in found.events],
    }
    return render(request, v, "publisher/call.html", context)


def _period(request: Request) -> tuple[date, date, str | None]:
    """The statement's first and last day (default: this month, UTC), and an error."""
    today = services_of(request).clock.now().astimezone(UTC).date()
    first = today.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    try:
        start = date.fromisoformat(request.query_params.get("from") or first.isoformat())
        end = date.fromisoformat(request.query_params.get("to") or last.isoformat())
    except ValueError:
        return first, last, "Give the dates as YYYY-MM-DD."
    if end < start:
        return start, end, "The last day is before the first day."
    return start, end, None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


async def _statement(request: Request, v: Visitor, start: date, end: date) -> dict[str, Any]:
    owner = v.principal.owner_id or ""
    try:
        found: dict[str, Any] = await finance.statement(
            owner,
            _midnight(start),
            _midnight(end + timedelta(days=1)),  # the last day is included
            who=v.principal,
            s=services_of(request),
        )
    except NotFound:
        raise PageNotFound() from None
    # transfer ids are hold ids, a buyer's: the publisher refers to a line by its call
    found["lines"] = [
        {k: val for k, val in line.items() if k in CSV_COLUMNS} for line in found["lines"]
    ]
    return found


@router.get("/publisher/statements")
async def statements(request: Request, v: Visitor = Depends(publisher)) -> Response:
    start, end, error = _period(request)
    found = None if error else await _statement(request, v, start, end)
    context = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "error": error,
        "statement": found,
        "kinds": KIND_WORDS,
        "when": _when,
    }
    return render(
        request, v, "publisher/statements.html", context, status_code=422 if error else 200
    )


@router.get("/publisher/statements.csv")
async def statements_csv(request: Request, v: Visitor = Depends(publisher)) -> Response:
    start, end, error = _period(request)
    if error:
        raise Problem(422, error)
    found = await _statement(request, v, start, end)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for line in found["lines"]:
        writer.writerow([line[k] if line[k] is not None else "" for k in CSV_COLUMNS])
    name = f"statement-{v.principal.owner_id}-{start.isoformat()}-{end.isoformat()}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def base_url(request: Request) -> str:
    """Where browsers reach this app: the configured public URL, else the request's."""
    configured = portal_of(request).public_base_url
    return (configured or str(request.base_url)).rstrip("/")


def snippet(base: str, pool: dict[str, Any]) -> str:
    """The HTML a publisher pastes into its landing page (shown escaped): the DNI script,
    configured by its pool, and a number it swaps for the session's leased one."""
    numbers: list[str] = pool.get("numbers") or []
    default = numbers[0] if numbers else ""
    return (
        f'<script src="{base}/dni.js" data-pool="{pool["id"]}"></script>\n'
        f'<a class="ppcx-number" href="tel:{default}">{default}</a>'
    )


@router.get("/publisher/numbers")
async def numbers(request: Request, v: Visitor = Depends(publisher)) -> Response:
    s = services_of(request)
    found = await setup_reads.list_numbers(
        campaign_id=None, pool_id=None, limit=PAGE, cursor=None, who=v.principal, s=s
    )
    pools = await setup_reads.list_number_pools(
        campaign_id=None, limit=PAGE, cursor=None, who=v.principal, s=s
    )
    base = base_url(request)
    context = {
        "numbers": found["items"],
        "pools": [{**pool, "snippet": snippet(base, pool)} for pool in pools["items"]],
    }
    return render(request, v, "publisher/numbers.html", context)
