"""Dynamic number insertion: a web session leases a pool number (the same one for the same
session; the least recently used one when the pool is exhausted), so a call to it is
attributed to the session's source and keyword. Public: pages call it from the browser."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.auth import services
from api.models import LeaseOut
from api.problems import Problem
from api.services import ApiServices
from domain.numbers import NumberPool

router = APIRouter(tags=["call tracking"])
SCRIPT = (resources.files("api") / "dni.js").read_bytes()


@router.get("/v1/dni/number", response_model=LeaseOut)
async def lease_number(
    pool: str = Query(max_length=100),
    session: str = Query(min_length=8, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$"),
    source: str | None = Query(default=None, max_length=200),
    medium: str | None = Query(default=None, max_length=200),
    campaign: str | None = Query(default=None, max_length=200),
    keyword: str | None = Query(default=None, max_length=200),
    click_id: str | None = Query(default=None, max_length=500),
    s: ApiServices = Depends(services),
) -> LeaseOut:
    """Lease a pool number to a web session for the pool's lease time."""
    found = await s.call(s.app.find, NumberPool, pool)
    if found is None:
        raise Problem(404, f"number pool {pool!r} does not exist")
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


@router.get("/dni.js", include_in_schema=False)
async def dni_script() -> Response:
    """The snippet that swaps the page's number for the session's leased one."""
    return Response(
        SCRIPT, media_type="text/javascript", headers={"Cache-Control": "public, max-age=300"}
    )
