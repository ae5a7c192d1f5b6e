"""Finance's audit pages: run `replay verify` in the background (`portal.audits`), follow its
progress (a partial the page polls with htmx, about once a second, a bounded number of
times), read its verdict, head and link; the audits' history, newest first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from api.auth import services_of
from domain.api_key import Role
from eventstore.audits import AuditRow
from portal.audits import AuditJobs
from portal.pages import PageNotFound, Visitor, portal_of, posted, redirect, render, signed_in

router = APIRouter(include_in_schema=False)
finance = signed_in(Role.FINANCE, Role.ADMIN)
HISTORY_SHOWN = 50
POLLS_MAX = 3600  # a page refreshes a running audit's progress this many times, then stops
AUDIT_ID_DIGITS_MAX = 18


def jobs_of(request: Request) -> AuditJobs:
    return portal_of(request).audits


def _utc(ms: int | None) -> str:
    if ms is None:
        return "–"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def view(row: AuditRow) -> dict[str, Any]:
    """An audit as the templates show it."""
    report: dict[str, Any] = orjson.loads(row.result) if row.result else {}
    percent = 100 if row.log_head == 0 else min(100, row.position * 100 // row.log_head)
    return {
        "id": row.id,
        "state": row.state.value,
        "running": row.running,
        "started_by": row.started_by,
        "started_at": _utc(row.started_ms),
        "finished_at": _utc(row.finished_ms),
        "seconds": None if row.finished_ms is None else (row.finished_ms - row.started_ms) / 1000,
        "log_head": row.log_head,
        "events": row.events,
        "position": row.position,
        "percent": percent,
        "expect_head": row.expect_head,
        "expect_link": row.expect_link,
        "head": row.head,
        "head_link": row.head_link,
        "failure_count": row.failure_count,
        "error": row.error,
        "report": report,
    }


def _audit_id(text: str) -> int:
    if not text.isdigit() or len(text) > AUDIT_ID_DIGITS_MAX:
        raise PageNotFound()
    return int(text)


async def _audit(request: Request, text: str) -> AuditRow:
    s = services_of(request)
    row = await s.call(jobs_of(request).find, s.clock, _audit_id(text))
    if row is None:
        raise PageNotFound()
    return row


@router.get("/finance/audits")
async def audits_page(request: Request, v: Visitor = Depends(finance)) -> Response:
    s = services_of(request)
    rows = await s.call(jobs_of(request).history, s.clock, HISTORY_SHOWN)
    audits = [view(r) for r in rows]
    context = {
        "audits": audits,
        "audit": audits[0] if audits else None,  # the latest: its progress, or its verdict
        "poll": 1,
        "polls_max": POLLS_MAX,
    }
    return render(request, v, "finance/audits.html", context)


@router.post("/finance/audits")
async def start(request: Request, v: Visitor = Depends(finance)) -> Response:
    await posted(request, v)
    s = services_of(request)
    email = v.user.email if v.user is not None else v.principal.by
    row, created = await s.call(jobs_of(request).start, s.app.store, s.clock, email)
    return redirect(f"/finance/audits/{row.id}" + ("" if created else "?already=running"))


@router.get("/finance/audits/{audit_id}")
async def audit_page(request: Request, audit_id: str, v: Visitor = Depends(finance)) -> Response:
    row = await _audit(request, audit_id)
    context = {
        "audit": view(row),
        "poll": 1,
        "polls_max": POLLS_MAX,
        "already": request.query_params.get("already") == "running",
    }
    return render(request, v, "finance/audit.html", context)


@router.get("/finance/audits/{audit_id}/progress")
async def progress(request: Request, audit_id: str, v: Visitor = Depends(finance)) -> Response:
    """The audit's status as a fragment: the page swaps it in while the audit runs."""
    row = await _audit(request, audit_id)
    given = request.query_params.get("n", "")
    n = int(given) if given.isdigit() and len(given) <= AUDIT_ID_DIGITS_MAX else POLLS_MAX
    context = {"audit": view(row), "poll": n + 1, "polls_max": POLLS_MAX}
    return render(request, v, "finance/_audit_status.html", context)
