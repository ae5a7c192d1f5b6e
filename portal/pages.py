"""What every portal page needs: who is visiting (the session cookie, checked against the
user's current session epoch), the role check, the CSRF check of posted forms, and rendering
(which sets the session cookie when it changed)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from api.auth import Principal, services_of
from api.keys import KeyHasher
from api.routers import setup_reads
from api.services import ApiServices
from domain.api_key import Role
from domain.user import User
from exchange.keys import Keys
from portal.audits import AuditJobs
from portal.limiter import LoginLimiter
from portal.sessions import COOKIE, SESSION_S, Session, SessionCodec

TEMPLATES_DIR = Path(__file__).parent / "templates"
HOME = {
    Role.BUYER: "/buyer/targets",
    Role.PUBLISHER: "/publisher/campaigns",
    Role.ADMIN: "/admin/health",
    Role.FINANCE: "/finance/accounts",
    Role.ANALYST: "/analyst/pnl",
}


@dataclass
class Portal:
    """The portal's parts, kept on `app.state.portal` by `portal.app.install`."""

    codec: SessionCodec
    templates: Jinja2Templates
    public_base_url: str | None
    limiter: Callable[[ApiServices], LoginLimiter]
    keys: Keys  # Redis keys of the portal's own (live-list polls)
    audits: AuditJobs


@dataclass
class Visitor:
    session: Session
    user: User | None = None
    fresh: bool = False  # the session cookie must be (re)set on the response
    services: ApiServices = field(repr=False, default=None)  # type: ignore[assignment]
    # API keys expiring soon that the user may see (admins all, an owner its own): a banner
    expiring_keys: tuple[dict[str, Any], ...] = ()

    @property
    def principal(self) -> Principal:
        user = self.user
        if user is None:
            raise SignInRequired()
        return Principal(user.id, Role(user.role), user.owner_id)

    @property
    def role(self) -> Role | None:
        return Role(self.user.role) if self.user is not None else None


class SignInRequired(Exception):
    """Answered with a redirect to the sign-in page (and back after it)."""


class PageNotFound(Exception):
    """Answered with the portal's not-found page: unknown, or another tenant's."""


class PageForbidden(Exception):
    """The signed-in user's role cannot open the page."""


class FormExpired(Exception):
    """A posted form without the session's CSRF token (forged, or from an old session)."""


def portal_of(request: Request) -> Portal:
    found: Portal = request.app.state.portal
    return found


def keys_of(request: Request) -> KeyHasher:
    return services_of(request).keys


async def visitor(request: Request) -> Visitor:
    portal = portal_of(request)
    s = services_of(request)
    session = portal.codec.loads(request.cookies.get(COOKIE))
    if session is None:
        return Visitor(Session.anonymous(), fresh=True, services=s)
    if session.user_id is None:
        return Visitor(session, services=s)
    user = await s.call(s.users.find, session.user_id)
    if user is None or not user.can_sign_in() or user.session_epoch != session.epoch:
        # signed out everywhere, disabled, or a stale cookie: an anonymous session again
        return Visitor(Session.anonymous(), fresh=True, services=s)
    signed = Visitor(session, user, services=s)
    expiring = await setup_reads.expiring_api_keys(signed.principal, s)
    return Visitor(session, user, services=s, expiring_keys=tuple(expiring))


def signed_in(*roles: Role) -> Callable[..., Awaitable[Visitor]]:
    """A dependency: the visitor, signed in with one of `roles` (any role when none)."""

    async def check(v: Visitor = Depends(visitor)) -> Visitor:
        if v.user is None:
            raise SignInRequired()
        if roles and v.role not in roles:
            raise PageForbidden()
        return v

    return check


async def posted(request: Request, v: Visitor) -> FormData:
    """The posted form, once its CSRF token is checked (and the request's Origin, if sent)."""
    form = await request.form()
    token = form.get("csrf") or request.headers.get("x-csrf-token")
    origin = request.headers.get("origin")
    if origin and origin not in ("null", str(request.base_url).rstrip("/")):
        raise FormExpired()
    if not portal_of(request).codec.csrf_matches(
        v.session, token if isinstance(token, str) else None
    ):
        raise FormExpired()
    return form


def secure(request: Request) -> bool:
    """Cookies are Secure behind TLS (uvicorn's proxy headers set the scheme)."""
    base = portal_of(request).public_base_url or ""
    return request.url.scheme == "https" or base.startswith("https://")


def with_session(request: Request, response: Response, session: Session) -> Response:
    response.set_cookie(
        COOKIE,
        portal_of(request).codec.dumps(session),
        max_age=SESSION_S,
        httponly=True,
        samesite="lax",
        secure=secure(request),
        path="/",
    )
    return response


def render(
    request: Request,
    v: Visitor,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> Response:
    portal = portal_of(request)
    page = {
        "request": request,
        "visitor": v,
        "user": v.user,
        "role": v.role.value if v.role else None,
        "csrf": portal.codec.csrf(v.session),
        "path": request.url.path,
        "expiring_keys": v.expiring_keys,
        **(context or {}),
    }
    response = portal.templates.TemplateResponse(request, template, page, status_code=status_code)
    if v.fresh:
        with_session(request, response, v.session)
    return response


def redirect(url: str, status_code: int = 303) -> RedirectResponse:
    return RedirectResponse(url, status_code=status_code)


def sign_in_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(target, safe='')}"


def local_path(value: object) -> str | None:
    """A redirect target only if it stays on this site (no `//host`, no scheme)."""
    if (
        isinstance(value, str)
        and value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and all(c.isprintable() for c in value)
    ):
        return value
    return None


def html(text: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status_code)
