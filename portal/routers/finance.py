"""Finance pages (finance staff; admins may open them too): the ledger's accounts as of any
time, open holds, the transfer journal, the dispute queue with each dispute's evidence and its
accept / reject form, and invoices and statements (with CSV and a printable page). Balances,
journal, documents, timelines and resolutions come from the API's own route functions; the
one projection query here (open holds of every account) only lists."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError as ShapeError

from api.auth import services_of
from api.models import ResolveIn
from api.params import JOURNAL_CURSOR
from api.problems import Problem
from api.routers import calls as api_calls
from api.routers import finance
from api.services import ApiServices
from domain.api_key import Role
from domain.call_state import BillingReason
from domain.errors import Conflict, DomainError, NotFound
from domain.ids import call_of_dispute
from domain.limits import ACCOUNT_LENGTH_MAX, CURSOR_LENGTH_MAX
from domain.money import format_cents
from portal.forms import field_errors
from portal.pages import PageNotFound, Visitor, posted, redirect, render, signed_in
from portal.routers.buyer_calls import PAGE_SIZE, call_summary, unavailable
from portal.routers.buyer_money import (
    DISPUTE_STATES,
    INVOICE_COLUMNS,
    dispute_page,
    month_range,
)
from portal.routers.publisher import timeline_row
from projections.readers import NoProjections

router = APIRouter(include_in_schema=False)
staff = signed_in(Role.FINANCE, Role.ADMIN)
AS_OF_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")
AS_OF_ERROR = "give a date and time (UTC) as YYYY-MM-DDTHH:MM, e.g. 2026-03-01T12:00"
HOLDS_MAX = 500
_JOURNAL_CURSOR = re.compile(JOURNAL_CURSOR)
KIND_WORDS = {
    "deposit": "deposit",
    "hold": "hold (call in progress)",
    "post": "billed call",
    "void": "hold released",
    "reversal": "dispute reversal",
}


def _as_of(text: str) -> datetime | None:
    """A `datetime-local` value read as UTC (None: not one)."""
    for pattern in AS_OF_FORMATS:
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def _kind_of(account: str) -> str:
    return account.split(":", 1)[0]


# -- accounts ----------------------------------------------------------------------------------


async def _accounts(
    request: Request, v: Visitor, as_of: datetime | None
) -> list[dict[str, Any]] | None:
    """Every account's balances from the API (None: no projections yet)."""
    try:
        found = await finance.accounts(as_of=as_of, who=v.principal, s=services_of(request))
    except Problem as error:
        if not unavailable(error):
            raise
        return None
    rows: list[dict[str, Any]] = found["accounts"]
    return rows


@router.get("/finance/accounts")
async def accounts(request: Request, v: Visitor = Depends(staff)) -> Response:
    text = request.query_params.get("as_of", "").strip()
    as_of = _as_of(text) if text else None
    errors = {"as_of": AS_OF_ERROR} if text and as_of is None else {}
    rows = [] if errors else await _accounts(request, v, as_of)
    context = {
        "accounts": rows or [],
        "waiting": rows is None,
        "as_of": text,
        "as_of_shown": as_of.strftime("%Y-%m-%d %H:%M:%S") if as_of else "",
        "errors": errors,
        "kind_of": _kind_of,
    }
    return render(request, v, "finance/accounts.html", context, status_code=422 if errors else 200)


# -- holds and the journal ---------------------------------------------------------------------

HOLDS_SQL = """
SELECT occurred_at, transfer_id, call_id, account, sum(debit_cents) AS amount_cents
FROM open_holds
GROUP BY ALL HAVING sum(debit_cents) > 0
ORDER BY occurred_at DESC, transfer_id LIMIT $limit
"""


def _holds(s: ApiServices) -> list[dict[str, Any]] | None:
    """Holds not yet posted or voided, newest first, of every account (None: no data)."""
    try:
        rows = s.reports.cursor().execute(HOLDS_SQL, {"limit": HOLDS_MAX}).fetchall()
    except NoProjections:
        return None
    return [
        {
            "at": at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "transfer_id": transfer_id,
            "call_id": call_id,
            "account": account,
            "amount": format_cents(int(amount)),
        }
        for at, transfer_id, call_id, account, amount in rows
    ]


@router.get("/finance/holds")
async def holds(request: Request, v: Visitor = Depends(staff)) -> Response:
    s = services_of(request)
    found = await s.call(_holds, s)
    context = {"holds": found or [], "waiting": found is None, "limit": HOLDS_MAX}
    return render(request, v, "finance/holds.html", context)


@router.get("/finance/journal")
async def journal(request: Request, v: Visitor = Depends(staff)) -> Response:
    account = request.query_params.get("account", "").strip()
    cursor = request.query_params.get("cursor") or None
    errors: dict[str, str] = {}
    if len(account) > ACCOUNT_LENGTH_MAX:
        errors["account"] = f"at most {ACCOUNT_LENGTH_MAX} characters"
    if cursor is not None and _JOURNAL_CURSOR.fullmatch(cursor) is None:
        errors["cursor"] = "not a page of this journal: start again from the first page"
    items: list[dict[str, Any]] = []
    next_cursor = None
    waiting = False
    if not errors:
        try:
            page = await finance.transfers(
                account=account or None,
                limit=PAGE_SIZE,
                cursor=cursor,
                who=v.principal,
                s=services_of(request),
            )
            items, next_cursor = page.items, page.next_cursor
        except Problem as error:
            if not unavailable(error):
                raise
            waiting = True
    context = {
        "lines": items,
        "account": account,
        "next_cursor": next_cursor,
        "paged": cursor is not None,
        "waiting": waiting,
        "errors": errors,
        "kinds": KIND_WORDS,
    }
    return render(request, v, "finance/journal.html", context, status_code=422 if errors else 200)


# -- disputes ----------------------------------------------------------------------------------


@router.get("/finance/disputes")
async def disputes(request: Request, v: Visitor = Depends(staff)) -> Response:
    """The queue: open disputes unless another state (or `any`) is chosen; open ones first."""
    status = request.query_params.get("status", "open")
    cursor = request.query_params.get("cursor") or None
    if cursor is not None and len(cursor) > CURSOR_LENGTH_MAX:
        raise PageNotFound()  # no page of this list
    context = await dispute_page(request, v, status, cursor)
    # open ones first; the sort is stable: id order within each
    context["disputes"] = sorted(context["disputes"], key=lambda d: d["status"] != "open")
    context["status"] = status if status in DISPUTE_STATES else "any"
    return render(request, v, "finance/disputes.html", context)


def _evidence(events: list[dict[str, Any]]) -> dict[str, Any]:
    """What finance weighs: duration against the target's buffer, the duplicate check the
    billing decision recorded, conversion, the billed buyer and amount, and the caller's
    consent references the ping carried (TCPA), who hung up first and the call's
    traffic-quality flags (a buzzer-beater: the buyer ended it just before the buffer)."""
    summary = call_summary(events)
    completed = next((e for e in events if e["type"] == "CallCompleted"), None)
    flagged = next((e for e in events if e["type"] == "CallFlagged"), None)
    ping = next((e for e in events if e["type"] == "PingReceived"), None)
    billing = summary["billing"] or {}
    billed = next((e for e in events if e["type"] == "CallBilled"), None)
    not_billed = next((e for e in events if e["type"] == "CallNotBilled"), None)
    duration_s, buffer_s = billing.get("duration_s"), billing.get("buffer_s")
    if not_billed is not None and not_billed.get("reason") == BillingReason.DUPLICATE:
        duplicate = f"duplicate of call {not_billed.get('duplicate_of') or '(not recorded)'}"
    elif billed is not None:
        duplicate = "not a duplicate: no earlier billed call of this caller to this buyer "
        duplicate += "within the campaign's duplicate window (checked when it was billed)"
    else:
        duplicate = "not checked: the call was not billed"
    return {
        **summary,
        "buyer_id": (billed or {}).get("buyer_id"),
        "revenue": (billed or {}).get("revenue"),
        "payout": (billed or {}).get("payout"),
        "duration_s": duration_s,
        "buffer_s": buffer_s,
        "over_buffer": None
        if duration_s is None or buffer_s is None
        else int(duration_s) >= int(buffer_s),
        "duplicate": duplicate,
        "consent": (ping or {}).get("consent"),
        "ended_by": (completed or {}).get("ended_by"),
        "flags": list((flagged or {}).get("flags") or []),
        "flag_rules": None
        if flagged is None
        else {k: flagged.get(k) for k in ("margin_s", "short_call_s", "rule_version")},
    }


def _dispute_of(events: list[dict[str, Any]], dispute_id: str) -> dict[str, Any] | None:
    opened = next(
        (e for e in events if e["type"] == "CallDisputed" and e["dispute_id"] == dispute_id), None
    )
    if opened is None:
        return None
    resolved = next(
        (e for e in events if e["type"] == "DisputeResolved" and e["dispute_id"] == dispute_id),
        None,
    )
    status = "open"
    if resolved is not None:
        status = "accepted" if resolved.get("accepted") else "rejected"
    return {
        "id": dispute_id,
        "reason": opened.get("reason"),
        "opened_at": str(opened.get("timestamp", ""))[:19].replace("T", " "),
        "opened_by": opened.get("by"),
        "status": status,
        "resolved_at": str((resolved or {}).get("timestamp", ""))[:19].replace("T", " "),
        "resolved_by": (resolved or {}).get("by"),
        "note": (resolved or {}).get("note"),
        "reversal_transfer_id": (resolved or {}).get("reversal_transfer_id"),
    }


async def _dispute_page(
    request: Request,
    v: Visitor,
    dispute_id: str,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    call_id = call_of_dispute(dispute_id)
    if call_id is None:
        raise PageNotFound()
    try:
        found = await api_calls.call_timeline(call_id, who=v.principal, s=services_of(request))
    except NotFound:
        raise PageNotFound() from None
    events = found.model_dump()["events"]
    dispute = _dispute_of(events, dispute_id)
    if dispute is None:
        raise PageNotFound()
    context = {
        "call_id": call_id,
        "call_status": found.status.replace("_", " "),
        "dispute": dispute,
        "evidence": _evidence(events),
        "steps": [timeline_row(e) for e in events],
        "form": form or {},
        "errors": errors or {},
        "done": request.query_params.get("done", ""),
    }
    return render(request, v, "finance/dispute.html", context, status_code=status_code)


@router.get("/finance/disputes/{dispute_id}")
async def dispute(request: Request, dispute_id: str, v: Visitor = Depends(staff)) -> Response:
    return await _dispute_page(request, v, dispute_id)


DECISIONS = {"accept": True, "reject": False}


@router.post("/finance/disputes/{dispute_id}/resolve")
async def resolve(request: Request, dispute_id: str, v: Visitor = Depends(staff)) -> Response:
    form = {k: str(val) for k, val in (await posted(request, v)).items() if k != "csrf"}
    decision = form.get("decision", "")
    if decision not in DECISIONS:
        errors = {"decision": "choose accept or reject"}
        return await _dispute_page(
            request, v, dispute_id, form=form, errors=errors, status_code=422
        )
    try:
        body = ResolveIn.model_validate(
            {"accept": DECISIONS[decision], "note": form.get("note", "").strip()}
        )
        await finance.resolve(dispute_id, body, who=v.principal, s=services_of(request))
    except NotFound:
        raise PageNotFound() from None
    except (DomainError, ShapeError) as error:
        return await _dispute_page(
            request,
            v,
            dispute_id,
            form=form,
            errors=field_errors(error),
            status_code=409 if isinstance(error, Conflict) else 422,
        )
    done = "accepted" if DECISIONS[decision] else "rejected"
    return redirect(f"/finance/disputes/{dispute_id}?done={done}")


# -- invoices and statements -------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """An invoice (a buyer's, per month) or a statement (a publisher's, per month)."""

    kind: str  # "invoices" or "statements": the page's path
    title: str
    holder: str  # the query parameter naming the holder: "buyer" or "publisher"
    account_prefix: str  # the ledger accounts of such holders: "buyer:" or "publisher:"

    async def read(
        self, request: Request, v: Visitor, holder_id: str, period: tuple[datetime, datetime]
    ) -> dict[str, Any] | None:
        """The API's document (None: no projections yet)."""
        route = finance.invoice if self.holder == "buyer" else finance.statement
        start, end = period
        try:
            found: dict[str, Any] = await route(
                holder_id, start, end, who=v.principal, s=services_of(request)
            )
        except NotFound:
            raise PageNotFound() from None
        except Problem as error:
            if not unavailable(error):
                raise
            return None
        return found


INVOICES = Document("invoices", "Invoices", "buyer", "buyer:")
STATEMENTS = Document("statements", "Statements", "publisher", "publisher:")


async def _holders(request: Request, v: Visitor, doc: Document) -> list[str]:
    """The ids of every buyer (or publisher) with a ledger account: the form's choices."""
    rows = await _accounts(request, v, None) or []
    return sorted(
        r["account"].removeprefix(doc.account_prefix)
        for r in rows
        if r["account"].startswith(doc.account_prefix)
    )


async def _document_context(request: Request, v: Visitor, doc: Document) -> dict[str, Any]:
    s = services_of(request)
    holder_id = request.query_params.get(doc.holder, "").strip()
    month = request.query_params.get("month") or None
    period = month_range(month, s.clock.now().astimezone(UTC).date())
    errors = {} if period is not None else {"month": "choose a month as YYYY-MM, e.g. 2026-03"}
    found = None
    if holder_id and period is not None:
        found = await doc.read(request, v, holder_id, period)
    return {
        "doc": doc,
        "holder_id": holder_id,
        "month": month or (period[0].strftime("%Y-%m") if period else ""),
        "document": found,
        "waiting": bool(holder_id and period) and found is None,
        "errors": errors,
        "kinds": KIND_WORDS,
    }


async def _document_page(request: Request, v: Visitor, doc: Document) -> Response:
    context = await _document_context(request, v, doc)
    context["holders"] = await _holders(request, v, doc)
    status_code = 422 if context["errors"] else 200
    return render(request, v, "finance/documents.html", context, status_code=status_code)


async def _document_print(request: Request, v: Visitor, doc: Document) -> Response:
    context = await _document_context(request, v, doc)
    if context["errors"] or not context["holder_id"]:
        raise PageNotFound()
    if context["document"] is None:
        raise Problem(503, "no projections yet: the document is not ready")
    return render(request, v, "finance/print.html", context)


async def _document_csv(request: Request, v: Visitor, doc: Document) -> Response:
    context = await _document_context(request, v, doc)
    if context["errors"] or not context["holder_id"]:
        raise PageNotFound()
    document = context["document"]
    if document is None:
        raise Problem(503, "no projections yet: the document is not ready")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(INVOICE_COLUMNS)
    for line in document["lines"]:
        writer.writerow([line[c] if line[c] is not None else "" for c in INVOICE_COLUMNS])
    name = f"{doc.kind[:-1]}-{context['holder_id']}-{context['month']}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/finance/invoices")
async def invoices(request: Request, v: Visitor = Depends(staff)) -> Response:
    return await _document_page(request, v, INVOICES)


@router.get("/finance/invoices.csv")
async def invoices_csv(request: Request, v: Visitor = Depends(staff)) -> Response:
    return await _document_csv(request, v, INVOICES)


@router.get("/finance/invoices/print")
async def invoices_print(request: Request, v: Visitor = Depends(staff)) -> Response:
    return await _document_print(request, v, INVOICES)


@router.get("/finance/statements")
async def statements(request: Request, v: Visitor = Depends(staff)) -> Response:
    return await _document_page(request, v, STATEMENTS)


@router.get("/finance/statements.csv")
async def statements_csv(request: Request, v: Visitor = Depends(staff)) -> Response:
    return await _document_csv(request, v, STATEMENTS)


@router.get("/finance/statements/print")
async def statements_print(request: Request, v: Visitor = Depends(staff)) -> Response:
    return await _document_print(request, v, STATEMENTS)
