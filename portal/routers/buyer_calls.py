"""Buyer pages: calls and their timelines, with the forms that report a conversion and open
a dispute. Each page reads and writes through the API's own route functions, so tenancy,
redaction, checks and messages are the API's."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError as ShapeError

from api.auth import services_of
from api.models import ConversionIn, DisputeIn
from api.problems import Problem
from api.routers import buyers as api_buyers
from api.routers import calls as api_calls
from api.routers import setup_reads
from domain.api_key import Role
from domain.errors import Conflict, DomainError, NotFound
from portal import live
from portal.forms import field_errors
from portal.pages import PageNotFound, Visitor, portal_of, posted, redirect, render, signed_in

router = APIRouter(include_in_schema=False)
T = TypeVar("T")
buyer = signed_in(Role.BUYER)
PAGE_SIZE = 50
YES_NO = {"yes": True, "no": False}
FILTERS = ("billed", "converted", "disputed")
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
    "CallFlagged": "Flagged (traffic quality)",
    "CallBilled": "Billed",
    "CallNotBilled": "Not billed",
    "CallConverted": "Converted",
    "CallDisputed": "Disputed",
    "DisputeResolved": "Dispute resolved",
    "CallRecorded": "Recorded",
    "RecordingDeleted": "Recording deleted",
    "CallScored": "Lead scored",
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


def unavailable(error: Problem) -> bool:
    """The projections have not been built yet (the API's 503): the page says so."""
    return error.status == 503


async def unless_unavailable(read: Awaitable[T], default: T) -> T:
    """`read`'s answer, or `default` while the projections are not built yet."""
    try:
        return await read
    except Problem as error:
        if not unavailable(error):
            raise
        return default


async def too_soon(request: Request, v: Visitor) -> bool:
    """A live list's poll sooner than its session may (`portal.live`)."""
    s = services_of(request)
    return not await live.poll_allowed(s, portal_of(request).keys, v.session.sid)


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
    context = await _calls_context(request, v)
    # no projections yet: no choices, the live list still shows
    context["campaigns"] = await unless_unavailable(_campaigns(request, v), [])
    return render(request, v, "buyer/calls.html", context)


@router.get("/buyer/calls/live")
async def calls_live(request: Request, v: Visitor = Depends(buyer)) -> Response:
    """The list's first page again, for the page's poll (`portal.live`)."""
    if await too_soon(request, v):
        return Response(status_code=204)
    context = await _calls_context(request, v, first_page=True)
    return render(request, v, "buyer/_calls_list.html", context)


async def _calls_context(
    request: Request, v: Visitor, *, first_page: bool = False
) -> dict[str, Any]:
    s = services_of(request)
    chosen = _call_filters(request)
    cursor = None if first_page else request.query_params.get("cursor") or None
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
        if not unavailable(error):
            raise
        waiting = True
    behind = False
    if cursor is None:  # the first page is live: the calls the projections have not reached
        items, behind = await s.call(live.live_items, s, v.principal, items)
        items = [i for i in items if live.matches(i, flags, chosen.get("campaign"))][:PAGE_SIZE]
    return {
        "calls": items,
        "chosen": chosen,
        "next_cursor": next_cursor,
        "paged": cursor is not None,
        "waiting": waiting and not items,
        "behind": behind,
        "live_ms": live.LIVE_POLL_MS,
    }


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


def _score(scored: dict[str, Any] | None) -> dict[str, Any] | None:
    """The call's latest lead score as the page shows it: a percentage and its model."""
    if scored is None:
        return None
    return {"percent": percent(scored["score_bp"]), "model_version": scored["model_version"]}


def percent(score_bp: int | None) -> str:
    """Basis points as a percentage with one decimal (6225 → "62.3 %")."""
    return "–" if score_bp is None else f"{score_bp / 100:.1f} %"


def call_summary(events: list[dict[str, Any]]) -> dict[str, Any]:
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
        "score": _score(last.get("CallScored")),
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
        "summary": call_summary(events),
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
