"""Signing in and out, accepting an invite, and the account page (sign out everywhere)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from api.auth import services_of
from domain.api_key import Role
from domain.commands import SetPassword, SignOutEverywhere
from domain.errors import NotFound, ValidationError
from domain.user import check_password, normal_email, user_id_for
from portal import invites
from portal.pages import (
    HOME,
    PageNotFound,
    Visitor,
    local_path,
    portal_of,
    posted,
    redirect,
    render,
    signed_in,
    visitor,
    with_session,
)
from portal.passwords import hash_password, verify_password
from portal.sessions import Session

router = APIRouter(include_in_schema=False)
anyone = signed_in()


def _home(v: Visitor) -> str:
    return HOME[v.role] if v.role is not None else "/login"


@router.get("/")
async def home(v: Visitor = Depends(visitor)) -> Response:
    return redirect(_home(v))


@router.get("/login")
async def login_page(request: Request, v: Visitor = Depends(visitor)) -> Response:
    if v.user is not None:
        return redirect(_home(v))
    nxt = local_path(request.query_params.get("next")) or ""
    return render(request, v, "login.html", {"next": nxt, "email": ""})


@router.post("/login")
async def login(request: Request, v: Visitor = Depends(visitor)) -> Response:
    form = await posted(request, v)
    s = services_of(request)
    limiter = portal_of(request).limiter(s)
    nxt = local_path(form.get("next")) or ""
    email_given = str(form.get("email") or "")
    password = str(form.get("password") or "")
    context = {"next": nxt, "email": email_given}
    try:
        email = normal_email(email_given)
    except ValidationError as error:
        return render(
            request, v, "login.html", {**context, "error": error.message}, status_code=422
        )
    client_ip = request.client.host if request.client else ""
    wait_s = await limiter.retry_after_s(email, client_ip)
    if wait_s:
        minutes = -(-wait_s // 60)
        return render(
            request,
            v,
            "login.html",
            {**context, "error": f"Too many failed sign-ins. Try again in {minutes} min."},
            status_code=429,
        )
    user = await s.call(s.users.find, user_id_for(email))
    known = user is not None and user.can_sign_in()
    ok = await s.call(verify_password, user.password_hash if known and user else None, password)
    if not (ok and known and user):
        await limiter.failed(email, client_ip)
        return render(
            request,
            v,
            "login.html",
            {**context, "error": "The e-mail address or the password is not right."},
            status_code=401,
        )
    await limiter.succeeded(email)
    session = v.session.signed_in(user.id, user.session_epoch)
    signed = Visitor(session, user)
    return with_session(request, redirect(nxt or _home(signed)), session)


@router.post("/logout")
async def logout(request: Request, v: Visitor = Depends(visitor)) -> Response:
    await posted(request, v)
    return with_session(request, redirect("/login"), Session.anonymous())


def _open_invite(request: Request, token: str) -> str:
    user_id = invites.user_of(token)
    if user_id is None:
        raise PageNotFound()
    return user_id


@router.get("/invite")
async def invite_page(request: Request, v: Visitor = Depends(visitor)) -> Response:
    token = request.query_params.get("token", "")
    s = services_of(request)
    user = await s.call(s.users.find, _open_invite(request, token))
    if user is None or not user.invite_open_at(s.clock.now()):
        raise PageNotFound()
    if user.invite_hash != invites.token_hash(s.keys, token):
        raise PageNotFound()
    return render(request, v, "invite.html", {"email": user.email, "token": token})


@router.post("/invite")
async def accept_invite(request: Request, v: Visitor = Depends(visitor)) -> Response:
    form = await posted(request, v)
    token = str(form.get("token") or request.query_params.get("token") or "")
    s = services_of(request)
    user_id = _open_invite(request, token)
    password = form.get("password")
    errors: dict[str, str] = {}
    try:
        check_password(password)
    except ValidationError as error:
        errors["password"] = error.message
    if not errors and form.get("confirm") != password:
        errors["confirm"] = "the two passwords differ"
    if errors:
        user = await s.call(s.users.find, user_id)
        email = user.email if user is not None else ""
        context = {"email": email, "token": token, "errors": errors}
        return render(request, v, "invite.html", context, status_code=422)
    password_hash = await s.call(hash_password, str(password))
    command = SetPassword(user_id, invites.token_hash(s.keys, token), password_hash)
    try:
        user = await s.call(s.users.set_password, command)
    except NotFound:
        raise PageNotFound() from None
    session = v.session.signed_in(user.id, user.session_epoch)
    return with_session(request, redirect(HOME[Role(user.role)]), session)


@router.get("/account")
async def account(request: Request, v: Visitor = Depends(anyone)) -> Response:
    return render(request, v, "account.html")


@router.post("/account/sign-out-everywhere")
async def sign_out_everywhere(request: Request, v: Visitor = Depends(anyone)) -> Response:
    await posted(request, v)
    s = services_of(request)
    user_id = v.principal.key_id
    await s.call(s.users.sign_out_everywhere, SignOutEverywhere(user_id, by=user_id))
    return with_session(request, redirect("/login?signed_out=everywhere"), Session.anonymous())
