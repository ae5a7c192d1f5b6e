"""Admins' system health page: each dependency's readiness (what `/readyz` checks, and whether
the projections are built), how far the relay and the projections trail the store's head, the
auction rate over the last minute and the real-time bidders that timed out in the last hour.
The page polls its partial every `REFRESH_S` seconds (htmx). Every part is bounded: a
dependency down shows as down and the page still answers within about a second."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from api.auth import services_of
from api.services import ApiServices
from domain.api_key import Role
from portal.pages import Visitor, render, signed_in
from projections.readers import NoProjections

router = APIRouter(include_in_schema=False)
admin = signed_in(Role.ADMIN)
REFRESH_S = 2  # the partial's polling interval (no faster: every poll checks each dependency)
RATE_WINDOW_S = 60  # the auction rate is pings over this window
TIMEOUT_WINDOW_S = 3600  # bidders' time-outs are counted over this window
TIMEOUT_ROWS_MAX = 20  # bidders shown, most time-outs first
TRAFFIC_TIMEOUT_S = 0.8  # the reports' reads, alongside readiness's own 0.8 s checks
PINGS_SQL = "SELECT count(*) FROM pings WHERE occurred_at >= $since"
TIMEOUTS_SQL = """
SELECT b.buyer_id, b.target_id, t.name, t.rtb_url, count(*) AS timeouts,
       max(b.occurred_at) AS last_at
FROM bids b LEFT JOIN targets t USING (target_id)
WHERE b.outcome = 'timed_out' AND b.occurred_at >= $since
GROUP BY b.buyer_id, b.target_id, t.name, t.rtb_url
ORDER BY timeouts DESC, b.target_id LIMIT $limit
"""


@dataclass
class Traffic:
    """What the projections say of the last minutes (None: not built, or not answering)."""

    pings_last_minute: int | None = None
    timeouts: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def pings_per_s(self) -> float | None:
        if self.pings_last_minute is None:
            return None
        return round(self.pings_last_minute / RATE_WINDOW_S, 2)


def _traffic(s: ApiServices, now: datetime) -> Traffic:
    """Blocking reads of the projections' snapshot."""
    try:
        con = s.reports.cursor()
    except NoProjections:
        return Traffic(error="not built yet")
    since_rate = now - timedelta(seconds=RATE_WINDOW_S)
    row = con.execute(PINGS_SQL, {"since": since_rate}).fetchone()
    since = now - timedelta(seconds=TIMEOUT_WINDOW_S)
    cursor = con.execute(TIMEOUTS_SQL, {"since": since, "limit": TIMEOUT_ROWS_MAX})
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    return Traffic(pings_last_minute=int(row[0]) if row else 0, timeouts=rows)


async def _bounded_traffic(s: ApiServices) -> Traffic:
    try:
        return await asyncio.wait_for(s.call(_traffic, s, s.clock.now()), TRAFFIC_TIMEOUT_S)
    except TimeoutError:
        return Traffic(error=f"no answer within {TRAFFIC_TIMEOUT_S} s")
    except Exception as error:  # a broken snapshot: the page still answers
        return Traffic(error=f"error: {type(error).__name__}")


def _projections_state(lag: dict[str, Any] | None) -> str:
    if lag is None:
        return "error: the lag could not be read"
    if lag["projection_events"] is None:
        return "error: not built yet (run `ppcx project`)"
    return "ok"


async def health(s: ApiServices) -> dict[str, Any]:
    """The readiness checks and the traffic, at once (each bounded)."""
    found, traffic = await asyncio.gather(s.readiness(), _bounded_traffic(s))
    lag: dict[str, Any] | None = found["lag"]
    checks = {**found["checks"], "projections": _projections_state(lag)}
    return {
        "checks": checks,
        "ready": all(v == "ok" for v in checks.values()),
        "lag": lag,
        "traffic": traffic,
        "checked_at": s.clock.now().isoformat(timespec="seconds"),
        "refresh_s": REFRESH_S,
        "rate_window_s": RATE_WINDOW_S,
        "timeout_window_min": TIMEOUT_WINDOW_S // 60,
    }


@router.get("/admin/health")
async def health_page(request: Request, v: Visitor = Depends(admin)) -> Response:
    return render(request, v, "admin/health.html", await health(services_of(request)))


@router.get("/admin/health/live")
async def health_partial(request: Request, v: Visitor = Depends(admin)) -> Response:
    return render(request, v, "admin/_health.html", await health(services_of(request)))
