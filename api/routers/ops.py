"""Operations: liveness, readiness (event store, Redis, NATS) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.auth import Principal, require, services
from api.metrics import lag_gauges
from api.models import Readiness, SweepOut
from api.responses import OrjsonResponse
from api.services import ApiServices

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={
        200: {"model": Readiness, "description": "every dependency answers"},
        503: {"model": Readiness, "description": "a dependency does not answer (named)"},
    },
)
async def readyz(s: ApiServices = Depends(services)) -> Response:
    """Each dependency checked now, all at once and each within a bound (the answer comes
    within about a second whatever is down): 200 when all answer, 503 naming the one that
    does not; and how far the relay and the projections trail the store's head (`lag`:
    events, and the age in seconds of the oldest event readers cannot see yet)."""
    found = await s.readiness()
    checks = found["checks"]
    ready = all(v == "ok" for v in checks.values())
    return OrjsonResponse(
        {"status": "ready" if ready else "not ready", "checks": checks, "lag": found["lag"]},
        status_code=200 if ready else 503,
    )


@router.post("/v1/ops/sweep", response_model=SweepOut)
async def sweep(
    who: Principal = Depends(require()), s: ApiServices = Depends(services)
) -> SweepOut:
    """Release expired reservations now (bids never posted, calls that never reported their
    end), as the background sweeper does every second; `handled` says how many. Then the API
    keys' hygiene, now: owners warned of an expiry near (`keys_warned`), keys unused too long
    expired (`keys_expired`). Then call recordings: those queued fetched from Twilio and
    stored (`recordings_fetched`), those past their retention deleted (`recordings_deleted`)."""
    handled = await s.sweeper.sweep()
    await s.call(s.sync_config)
    hygiene = await s.key_hygiene.tick() if s.key_hygiene is not None else None
    recorded = await s.recorder.tick() if s.recorder is not None else None
    answer = SweepOut(handled=handled)
    if hygiene is not None:
        answer.keys_warned, answer.keys_expired = hygiene.warned, hygiene.expired
    if recorded is not None:
        answer.recordings_fetched = recorded.fetched
        answer.recordings_deleted = recorded.deleted
    return answer


@router.get("/metrics", include_in_schema=False)
async def metrics(s: ApiServices = Depends(services)) -> Response:
    """Prometheus exposition: every worker's metrics (multiprocess mode under `ppcx serve`),
    and how far the relay and the projections trail the store's head, read now."""
    found = await s.readiness()
    return Response(s.metrics.exposition(lag_gauges(found["lag"])), media_type=CONTENT_TYPE_LATEST)
