"""Admins' API keys page: the keys (from the projections, a page at a time), issuing one (role,
owner, label, optional expiry; the secret shown once, on the page answering the issue),
setting a key's expiry (blank: now) and revoking one. Every action calls the API's own route
function with the signed-in admin as the principal, so its events record the user's id."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError as ShapeError

from api.auth import services_of
from api.models import ApiKeyExpiryIn, ApiKeyIn
from api.problems import Problem
from api.routers import admin as api
from api.routers import setup_reads
from domain.api_key import ROLES, ApiKey, Role
from domain.clock import format_rfc3339
from domain.errors import DomainError, ValidationError
from portal.forms import blank_is_unset, field_errors
from portal.pages import Visitor, posted, redirect, render, signed_in

router = APIRouter(include_in_schema=False)
admin = signed_in(Role.ADMIN)
PAGE_SIZE = 50  # keys a page
ISSUE_FIELDS = ("role", "owner_id", "label", "expires_at")
NOTICES = {
    "expired": "The key's expiry is set: from then on it is answered 401.",
    "revoked": "The key is revoked: it is answered 401 from now on.",
}


async def _keys(request: Request, v: Visitor) -> dict[str, Any] | None:
    """A page of keys (None: no projections yet)."""
    cursor = request.query_params.get("cursor") or None
    try:
        page: dict[str, Any] = await setup_reads.list_api_keys(
            limit=PAGE_SIZE, cursor=cursor, who=v.principal, s=services_of(request)
        )
    except Problem as problem:
        if problem.status == 503:
            return None
        raise
    return page


async def _fresh(request: Request, page: dict[str, Any] | None) -> None:
    """The key just changed (`?key=`), as the event store has it now: the projected list
    trails it by a few seconds."""
    key_id = request.query_params.get("key")
    shown = [k for k in (page or {}).get("items", []) if k["id"] == key_id]
    if not shown or key_id is None:
        return
    s = services_of(request)
    stored = await s.call(s.app.find, ApiKey, key_id)
    if stored is None:
        return
    now = s.clock.now()
    status = "revoked" if stored.revoked else "active" if stored.usable_at(now) else "expired"
    expires_at = None if stored.expires_at is None else format_rfc3339(stored.expires_at)
    shown[0].update(status=status, expires_at=expires_at)


async def _page(
    request: Request,
    v: Visitor,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    issued: dict[str, Any] | None = None,
    expiry: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    keys = await _keys(request, v)
    await _fresh(request, keys)
    context = {
        "keys": keys,
        "roles": ROLES,
        "form": form or {},
        "errors": errors or {},
        "issued": issued,
        "expiry": expiry or {},  # {key_id: the refused expiry's message}
        "notice": NOTICES.get(request.query_params.get("done", "")),
    }
    return render(request, v, "admin/keys.html", context, status_code=status_code)


@router.get("/admin/keys")
async def keys_page(request: Request, v: Visitor = Depends(admin)) -> Response:
    return await _page(request, v)


@router.post("/admin/keys")
async def issue(request: Request, v: Visitor = Depends(admin)) -> Response:
    form = await posted(request, v)
    given = {k: str(form.get(k) or "").strip() for k in ISSUE_FIELDS}
    try:
        body = ApiKeyIn.model_validate(blank_is_unset(given, ISSUE_FIELDS))
        out = await api.create_api_key(body, who=v.principal, s=services_of(request))
    except (DomainError, ShapeError) as error:
        return await _page(request, v, form=given, errors=field_errors(error), status_code=422)
    issued = {"id": out.id, "api_key": out.api_key, "role": out.role, "owner_id": out.owner_id}
    return await _page(request, v, issued=issued, status_code=201)


@router.post("/admin/keys/{key_id}/expire")
async def expire(request: Request, key_id: str, v: Visitor = Depends(admin)) -> Response:
    form = await posted(request, v)
    s = services_of(request)
    typed = str(form.get("expires_at") or "").strip()
    given = format_rfc3339(s.clock.now()) if typed.lower() in ("", "now") else typed
    try:
        body = ApiKeyExpiryIn.model_validate({"expires_at": given})
        await api.expire_api_key(key_id, body, who=v.principal, s=s)
    except (ShapeError, ValidationError) as error:
        message = "; ".join(field_errors(error).values())
        return await _page(request, v, expiry={key_id: message}, status_code=422)
    return redirect(f"/admin/keys?done=expired&key={quote(key_id, safe='')}")


@router.post("/admin/keys/{key_id}/revoke")
async def revoke(request: Request, key_id: str, v: Visitor = Depends(admin)) -> Response:
    await posted(request, v)
    await api.revoke_api_key(key_id, who=v.principal, s=services_of(request))
    return redirect(f"/admin/keys?done=revoked&key={quote(key_id, safe='')}")
