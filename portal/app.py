"""Mounts the portal on the API's application: its assets, its pages, and error pages for
portal paths (the API keeps its problem+json answers for its own paths)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.problems import Problem
from api.services import ApiServices
from domain.errors import DomainError, NotFound
from exchange.keys import Keys
from portal.audits import AuditConfig, AuditJobs
from portal.limiter import LoginLimiter
from portal.pages import (
    TEMPLATES_DIR,
    FormExpired,
    PageForbidden,
    PageNotFound,
    Portal,
    SignInRequired,
    Visitor,
    local_path,
    redirect,
    render,
    sign_in_url,
    visitor,
)
from portal.routers import (
    account,
    admin,
    admin_health,
    admin_keys,
    admin_lists,
    analyst,
    audits,
    buyer_calls,
    buyer_money,
    buyer_targets,
    finance,
    publisher,
    webhooks,
)
from portal.sessions import Session, SessionCodec

STATIC_DIR = Path(__file__).parent / "static"
STATIC_URL = "/static/portal"
# paths the API answers with problem documents; every other path is the portal's
API_PATHS = (
    "/v1/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/redoc",
    "/static/docs",
    "/dni.js",
)
Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def is_portal_path(path: str) -> bool:
    return not path.startswith(API_PATHS)


def install(
    app: FastAPI,
    *,
    secret: str,
    public_base_url: str | None,
    redis_prefix: str,
    audits_config: AuditConfig,
) -> None:
    keys = Keys(redis_prefix)

    def limiter(s: ApiServices) -> LoginLimiter:
        return LoginLimiter(s.hot.redis, keys)

    templates = Jinja2Templates(directory=TEMPLATES_DIR)
    templates.env.globals["static"] = STATIC_URL
    app.state.portal = Portal(
        SessionCodec(secret), templates, public_base_url, limiter, keys, AuditJobs(audits_config)
    )
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="portal-assets")
    for module in (
        account,
        admin,
        admin_health,
        admin_keys,
        admin_lists,
        buyer_targets,
        buyer_calls,
        buyer_money,
        finance,
        publisher,
        webhooks,
        audits,
        analyst,
    ):
        app.include_router(module.router)
    _error_pages(app)


async def _page(request: Request, template: str, status_code: int, **context: object) -> Response:
    try:
        v = await visitor(request)
    except Exception:  # the store or Redis is down: the page still answers
        v = Visitor(Session.anonymous())
    return render(request, v, template, dict(context), status_code=status_code)


async def _delegate(handler: Handler, request: Request, error: Exception) -> Response:
    """The API's own answer, for a path that is not the portal's."""
    answer = handler(request, error)
    return await answer if inspect.isawaitable(answer) else answer


def _error_pages(app: FastAPI) -> None:
    api_http: Handler = app.exception_handlers[StarletteHTTPException]
    api_domain: Handler = app.exception_handlers[DomainError]
    api_problem: Handler = app.exception_handlers[Problem]

    async def on_http(request: Request, error: Exception) -> Response:
        if not is_portal_path(request.url.path) or not isinstance(error, StarletteHTTPException):
            return await _delegate(api_http, request, error)
        if error.status_code in (404, 405):
            return await _page(request, "not_found.html", 404)
        return await _page(request, "error.html", error.status_code, message=str(error.detail))

    async def on_domain(request: Request, error: Exception) -> Response:
        if not is_portal_path(request.url.path) or not isinstance(error, DomainError):
            return await _delegate(api_domain, request, error)
        if isinstance(error, NotFound):
            return await _page(request, "not_found.html", 404)
        return await _page(request, "error.html", 409, message=error.message)

    async def on_not_found(request: Request, error: Exception) -> Response:
        return await _page(request, "not_found.html", 404)

    async def on_forbidden(request: Request, error: Exception) -> Response:
        return await _page(request, "forbidden.html", 403)

    async def on_sign_in(request: Request, error: Exception) -> Response:
        if request.headers.get("hx-request") == "true":
            # a polled partial (the health page's): htmx takes the whole page to sign-in,
            # and back to that page after it, instead of swapping the sign-in form in
            page = local_path(urlsplit(request.headers.get("hx-current-url", "")).path) or "/"
            return Response(
                status_code=204,
                headers={"HX-Redirect": f"/login?next={quote(page, safe='')}"},
            )
        return redirect(sign_in_url(request))

    async def on_expired(request: Request, error: Exception) -> Response:
        return await _page(
            request,
            "error.html",
            403,
            message="This form has expired or did not come from this site. Reload the page "
            "and send it again.",
        )

    async def on_problem(request: Request, error: Exception) -> Response:
        if not is_portal_path(request.url.path) or not isinstance(error, Problem):
            return await _delegate(api_problem, request, error)
        if error.status == 404:
            return await _page(request, "not_found.html", 404)
        return await _page(request, "error.html", error.status, message=error.detail)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(DomainError, on_domain)
    app.add_exception_handler(PageNotFound, on_not_found)
    app.add_exception_handler(PageForbidden, on_forbidden)
    app.add_exception_handler(SignInRequired, on_sign_in)
    app.add_exception_handler(FormExpired, on_expired)
