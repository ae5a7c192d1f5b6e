"""Admins invite people: a user of a role (and, for publisher and buyer staff, an owner); the
one-time link is shown once, on the page that answers the invite. The page lists every user
(invited, active or disabled) and disables one: it can no longer sign in, and its sessions
end at once."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from api.auth import services_of
from domain.api_key import ROLES, Role
from domain.commands import DisableUser
from domain.errors import Conflict, DomainError, NotFound
from domain.user import User
from portal import invites
from portal.forms import field_errors
from portal.pages import PageNotFound, Visitor, portal_of, posted, render, signed_in

router = APIRouter(include_in_schema=False)
admin = signed_in(Role.ADMIN)


def _base_url(request: Request) -> str:
    return portal_of(request).public_base_url or str(request.base_url)


def user_state(user: User) -> str:
    if user.disabled:
        return "disabled"
    return "active" if user.password_hash is not None else "invited"


async def _users_context(request: Request, **context: Any) -> dict[str, Any]:
    s = services_of(request)
    users = await s.call(s.users.listed)
    listed = [
        {
            "id": u.id,
            "email": u.email,
            "role": u.role,
            "owner_id": u.owner_id,
            "state": user_state(u),
        }
        for u in users
    ]
    return {"roles": ROLES, "form": {}, "users": listed, **context}


@router.get("/admin/users")
async def users_page(request: Request, v: Visitor = Depends(admin)) -> Response:
    return render(request, v, "admin/users.html", await _users_context(request))


@router.post("/admin/users/{user_id}/disable")
async def disable(user_id: str, request: Request, v: Visitor = Depends(admin)) -> Response:
    await posted(request, v)
    s = services_of(request)
    try:
        user = await s.call(s.users.disable, DisableUser(user_id, by=v.principal.by))
    except NotFound:
        raise PageNotFound() from None
    except Conflict as error:
        context = await _users_context(request, failed=error.message)
        return render(request, v, "admin/users.html", context, status_code=409)
    context = await _users_context(request, disabled=user.email)
    return render(request, v, "admin/users.html", context)


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
        context = await _users_context(request, form=given, errors=field_errors(error))
        return render(request, v, "admin/users.html", context, status_code=422)
    invited = {"email": given["email"], "link": link}
    return render(request, v, "admin/users.html", await _users_context(request, invited=invited))
