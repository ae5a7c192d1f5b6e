"""Admins invite people: a user of a role (and, for publisher and buyer staff, an owner); the
one-time link is shown once, on the page that answers the invite."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from api.auth import services_of
from domain.api_key import ROLES, Role
from domain.errors import DomainError
from portal import invites
from portal.forms import field_errors
from portal.pages import Visitor, portal_of, posted, render, signed_in

router = APIRouter(include_in_schema=False)
admin = signed_in(Role.ADMIN)


def _base_url(request: Request) -> str:
    return portal_of(request).public_base_url or str(request.base_url)


@router.get("/admin/users")
async def users_page(request: Request, v: Visitor = Depends(admin)) -> Response:
    return render(request, v, "admin/users.html", {"roles": ROLES, "form": {}})


@router.post("/admin/users")
async def invite(request: Request, v: Visitor = Depends(admin)) -> Response:
    form = await posted(request, v)
    s = services_of(request)
    given: dict[str, Any] = {
        k: str(form.get(k) or "").strip() for k in ("email", "role", "owner_id")
    }
    try:
        _, link = await s.call(
            invites.invite,
            s.users,
            s.keys,
            email=given["email"],
            role=given["role"],
            owner_id=given["owner_id"] or None,
            by=v.principal.by,
            base_url=_base_url(request),
        )
    except DomainError as error:
        context = {"roles": ROLES, "form": given, "errors": field_errors(error)}
        return render(request, v, "admin/users.html", context, status_code=422)
    context = {"roles": ROLES, "form": {}, "invited": {"email": given["email"], "link": link}}
    return render(request, v, "admin/users.html", context)
