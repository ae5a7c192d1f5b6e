"""Dynamic number insertion: a web session leases a pool number (the same one for the same
session; the least recently used one when the pool is exhausted), so a call to it is
attributed to the session's source and keyword. Public: pages call it from the browser,
from the pool's own allowed web origins when they are on another domain (CORS)."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.auth import services
from api.models import LeaseOut
from api.openapi import problems
from api.problems import Problem
from api.services import ApiServices
from domain.limits import (
    ATTRIBUTION_TEXT_LENGTH_MAX,
    CLICK_ID_LENGTH_MAX,
    DNI_BURST,
    DNI_RATE_PER_S,
    DNI_SESSION_LENGTH,
    ID_LENGTH_MAX,
)
from domain.numbers import NumberPool
from exchange.dni import SESSION_PATTERN
from exchange.rate_limits import Limit, refusal

router = APIRouter(tags=["call tracking"])
SCRIPT = (resources.files("api") / "dni.js").read_bytes()
SCRIPT_MAX_AGE_S = 300
PREFLIGHT_MAX_AGE_S = 600  # how long a browser may reuse a preflight's answer
ALLOWED_METHODS = "GET"
ALLOWED_HEADERS = "Content-Type"
DNI_SCOPE = "dni"
DNI_LIMIT = Limit(DNI_SCOPE, DNI_RATE_PER_S, DNI_BURST)  # per client address


def _cors(pool: NumberPool | None, origin: str | None) -> dict[str, str]:
    """The CORS headers for a request from `origin`: none unless the pool allows it."""
    if pool is None or origin is None or origin not in pool.allowed_origins:
        return {}
    return {"Access-Control-Allow-Origin": origin}


async def _refuse_over_limit(request: Request, s: ApiServices) -> None:
    """One token of the client address's bucket (the address keyed-hashed, never stored as
    it is), or `RateLimited` (429) before anything is read."""
    limiter = s.auctions.limiter
    if limiter is None:
        return
    address = request.client.host if request.client else ""
    taken = await limiter.take(DNI_SCOPE, s.auctions.hasher(f"client:{address}"), DNI_LIMIT)
    if not taken.allowed:
        raise refusal(DNI_LIMIT, taken, "too many number requests from this address")


@router.get("/v1/dni/number", response_model=LeaseOut, responses=problems(403, 404, 429))
async def lease_number(
    request: Request,
    response: Response,
    pool: str = Query(max_length=ID_LENGTH_MAX),
    session: str = Query(
        min_length=DNI_SESSION_LENGTH.minimum,
        max_length=DNI_SESSION_LENGTH.maximum,
        pattern=SESSION_PATTERN,
    ),
    source: str | None = Query(default=None, max_length=ATTRIBUTION_TEXT_LENGTH_MAX),
    medium: str | None = Query(default=None, max_length=ATTRIBUTION_TEXT_LENGTH_MAX),
    campaign: str | None = Query(default=None, max_length=ATTRIBUTION_TEXT_LENGTH_MAX),
    keyword: str | None = Query(default=None, max_length=ATTRIBUTION_TEXT_LENGTH_MAX),
    click_id: str | None = Query(default=None, max_length=CLICK_ID_LENGTH_MAX),
    s: ApiServices = Depends(services),
) -> LeaseOut:
    """Lease a pool number to a web session for the pool's lease time. A page on another
    domain may call it when its origin is one of the pool's `allowed_origins`: the answer
    then carries `Access-Control-Allow-Origin` (every answer carries `Vary: Origin`). A
    request from any other origin is refused (403) and leases nothing; one without `Origin`
    (the pool's own domain, a server) is served."""
    response.headers["Vary"] = "Origin"
    response.headers["Cache-Control"] = "no-store"  # one session's lease
    await _refuse_over_limit(request, s)
    found = await s.call(s.app.find, NumberPool, pool)
    if found is None:
        raise Problem(404, f"number pool {pool!r} does not exist")
    origin = request.headers.get("origin")
    allowed = _cors(found, origin)
    if origin is not None and not allowed:  # a page elsewhere must not take the pool's numbers
        raise Problem(403, f"pages on {origin!r:.200} may not lease numbers of pool {pool!r}")
    response.headers.update(allowed)
    attribution = {
        "source": source,
        "medium": medium,
        "campaign": campaign,
        "keyword": keyword,
        "click_id": click_id,
    }
    lease = await s.dni.lease(
        found.id,
        found.numbers,
        session,
        {k: v for k, v in attribution.items() if v},
        s.clock.now(),
        found.lease_ttl_s,
    )
    if lease is None:
        raise Problem(503, f"number pool {pool!r} has no number to lease")
    return LeaseOut(
        number=lease.number,
        pool_id=found.id,
        session=session,
        reused=lease.reused,
        expires_in_s=found.lease_ttl_s,
    )


@router.options("/v1/dni/number", status_code=204, include_in_schema=False)
async def lease_preflight(
    request: Request,
    pool: str = Query(default="", max_length=ID_LENGTH_MAX),
    s: ApiServices = Depends(services),
) -> Response:
    """The browser's CORS preflight: allowed (204 with the allowed method, headers and how
    long to remember it) for an origin the pool allows and a GET; 204 without CORS headers,
    which the browser treats as a refusal, otherwise (an unknown pool included)."""
    headers = {"Vary": "Origin"}
    method = request.headers.get("access-control-request-method")
    found = await s.call(s.app.find, NumberPool, pool) if pool else None
    allowed = _cors(found, request.headers.get("origin"))
    if allowed and method == ALLOWED_METHODS:
        headers |= allowed | {
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
        }
    return Response(status_code=204, headers=headers)


@router.get("/dni.js", include_in_schema=False)
async def dni_script() -> Response:
    """The snippet that swaps the page's number for the session's leased one. Loaded by
    pages on any domain: a plain `<script src>` (or one with `crossorigin`, for subresource
    integrity) is never blocked by a cross-origin resource policy."""
    return Response(
        SCRIPT,
        media_type="text/javascript",
        headers={
            "Cache-Control": f"public, max-age={SCRIPT_MAX_AGE_S}",
            "Cross-Origin-Resource-Policy": "cross-origin",
            "Access-Control-Allow-Origin": "*",
            "X-Content-Type-Options": "nosniff",
        },
    )
