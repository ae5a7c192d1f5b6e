"""RFC 9457 problem details for every error the API returns — never a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
import redis.exceptions
from fastapi import FastAPI, Request, routing
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from api.observability import REQUEST_ID
from api.patch_rules import rule_errors
from domain.errors import (
    ConcurrencyConflict,
    Conflict,
    DomainError,
    Expired,
    InsufficientFunds,
    InvalidFields,
    NotFound,
    RateLimited,
    Refused,
    Suspended,
    ValidationError,
)
from domain.invariant import invariant
from exchange.hotstate import StateLost

logger = logging.getLogger(__name__)
PROBLEM = "application/problem+json"
RETRY_AFTER_S = 1  # a lost dependency (Redis) comes back, or is rebuilt, within seconds
TYPE_BASE = "https://ppcx.dev/problems/"
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Payload too large",
    415: "Unsupported media type",
    416: "Range not satisfiable",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal error",
    503: "Unavailable",
}
# Every problem type the API answers with — the last part of `type` — and its status. One
# spelling each (hyphenated); docs/API.md lists the same table and a test holds them equal.
PROBLEM_TYPES: Mapping[str, int] = {
    "bad-request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not-found": 404,
    "method-not-allowed": 405,
    "conflict": 409,
    "insufficient-funds": 409,
    "refused": 409,
    "archived": 409,
    "expired": 410,
    "payload-too-large": 413,
    "unsupported-media-type": 415,
    "range-not-satisfiable": 416,
    "validation": 422,
    "rate-limited": 429,
    "internal-error": 500,
    "unavailable": 503,
    "concurrency-conflict": 503,
}
# The type of a problem raised with a status alone.
DEFAULT_KINDS: Mapping[int, str] = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    410: "expired",
    413: "payload-too-large",
    415: "unsupported-media-type",
    416: "range-not-satisfiable",
    422: "validation",
    429: "rate-limited",
    500: "internal-error",
    503: "unavailable",
}


def kind_of(status: int, kind: str | None = None) -> str:
    """The problem type: `kind` (it must be listed with this status), else the status's."""
    if kind is None:
        return DEFAULT_KINDS.get(status, "bad-request" if status < 500 else "internal-error")
    invariant(
        PROBLEM_TYPES.get(kind) == status, f"problem type {kind!r} is not listed for {status}"
    )
    return kind


class Problem(Exception):
    """An error with its HTTP status, raised anywhere in a request."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind_of(status, kind)
        self.errors = errors
        self.headers = headers or {}


def problem_response(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
    extensions: dict[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": TYPE_BASE + kind_of(status, kind),
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    if instance:
        body["instance"] = instance
    if extensions:  # RFC 9457 extension members, e.g. the `reason` of a refusal
        body.update(extensions)
    request_id = REQUEST_ID.get()
    if request_id is not None:  # the same id as the X-Request-ID header and the log lines
        body["request_id"] = request_id
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM, headers=headers)


# the first class an error is an instance of gives its status (subclasses before their bases)
DOMAIN_STATUSES: tuple[tuple[type[DomainError], int], ...] = (
    (NotFound, 404),
    (Suspended, 403),
    (Expired, 410),
    (ConcurrencyConflict, 503),
    (RateLimited, 429),
    (InsufficientFunds, 409),
    (Conflict, 409),
    (ValidationError, 422),
)


def domain_status(error: DomainError) -> int:
    return next((status for cls, status in DOMAIN_STATUSES if isinstance(error, cls)), 400)


def _location(loc: tuple[Any, ...]) -> str:
    # union members appear in the location by class name (FixedPayout): not a field
    parts = [
        str(p)
        for p in loc
        if p not in ("body", "query", "path", "header")
        and not (isinstance(p, str) and p[:1].isupper() and p.isalnum())
    ]
    return ".".join(parts) or "body"


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route of `app` answers on `path` (RFC 9110's `Allow`)."""
    found: set[str] = set()
    for context in routing.iter_route_contexts(app.routes):
        route = context.original_route
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            found |= set(getattr(route, "methods", None) or ())
    return sorted(found)


def rate_limit_headers(error: RateLimited) -> dict[str, str]:
    """`Retry-After` (whole seconds, at least one) and draft-ietf-httpapi-ratelimit-headers'
    `RateLimit-Policy` and `RateLimit`."""
    return {
        "Retry-After": str(max(1, -(-error.retry_after_ms // 1000))),
        "RateLimit-Policy": error.policy,
        "RateLimit": error.state,
    }


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def on_problem(request: Request, error: Problem) -> Response:
        return problem_response(
            error.status,
            error.detail,
            kind=error.kind,
            errors=error.errors,
            headers=error.headers,
            instance=request.url.path,
        )

    @app.exception_handler(DomainError)
    async def on_domain(request: Request, error: DomainError) -> Response:
        status = domain_status(error)
        errors = [{"field": error.field, "message": error.message}] if error.field else None
        if isinstance(error, InvalidFields):  # every bad field of one request
            errors = [{"field": e.field or "body", "message": e.message} for e in error.errors]
        reason = (
            {"reason": error.reason}
            if isinstance(error, Refused | Suspended | RateLimited)
            else None
        )
        return problem_response(
            status,
            error.message,
            kind=error.code,
            errors=errors,
            headers=rate_limit_headers(error) if isinstance(error, RateLimited) else None,
            instance=request.url.path,
            extensions=reason,
        )

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, error: RequestValidationError) -> Response:
        errors = [
            {"field": _location(tuple(e.get("loc", ()))), "message": e.get("msg", "")}
            for e in error.errors()
        ]
        route = request.scope.get("route")
        if request.method == "PATCH" and route is not None:
            bad = {
                str(loc[1])
                for loc in (tuple(e.get("loc", ())) for e in error.errors())
                if len(loc) > 1 and loc[0] == "body"
            }
            errors += rule_errors(route.path, request.path_params, error.body, bad)
        return problem_response(
            422,
            "the request is not valid",
            kind="validation",
            errors=errors,
            instance=request.url.path,
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, error: StarletteHTTPException) -> Response:
        headers = dict(error.headers or {})
        if error.status_code == 405:  # one route's methods: the path may have several routes
            headers["Allow"] = ", ".join(allowed_methods(app, request.url.path))
        return problem_response(
            error.status_code, str(error.detail), headers=headers, instance=request.url.path
        )

    @app.exception_handler(StateLost)
    async def on_state_lost(request: Request, error: StateLost) -> Response:
        return problem_response(
            503,
            "the exchange is rebuilding its state from the log; retry shortly",
            headers={"Retry-After": str(RETRY_AFTER_S)},
            instance=request.url.path,
        )

    @app.exception_handler(redis.exceptions.ConnectionError)
    @app.exception_handler(redis.exceptions.TimeoutError)
    @app.exception_handler(redis.exceptions.ClusterError)  # a cluster's failover window
    @app.exception_handler(redis.exceptions.TryAgainError)
    @app.exception_handler(redis.exceptions.RedisClusterException)
    async def on_redis_unavailable(request: Request, error: Exception) -> Response:
        logger.warning("Redis unavailable on %s %s: %s", request.method, request.url.path, error)
        return problem_response(
            503,
            "the exchange's state store (Redis) is unavailable; retry shortly",
            headers={"Retry-After": str(RETRY_AFTER_S)},
            instance=request.url.path,
        )

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, error: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            500, "an internal error occurred; it has been logged", instance=request.url.path
        )
