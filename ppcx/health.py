"""Readiness: each dependency checked at once, each within a bound, so `/readyz` answers in
about a second whatever is down (a stopped Redis or NATS accepts the connection and never
answers: an unbounded check would hang with it), and how far the relay and the projections
trail the store's head.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nats
import orjson

from domain.clock import Clock
from eventstore.application import PPCXApplication
from eventstore.nats_servers import nats_servers, nats_where
from projections.readers import NoProjections, SnapshotReader
from projections.relay import RELAY_NAME

CHECK_TIMEOUT_S = 0.8  # each check; they run at once, so /readyz answers within about 1 s


@dataclass(frozen=True)
class Lag:
    head: int
    relay_events: int | None  # None: not known (the store did not answer)
    projection_events: int | None  # None: nothing projected yet
    projection_seconds: float | None  # age of the oldest event readers cannot see yet

    def to_dict(self) -> dict[str, Any]:
        return {
            "head": self.head,
            "relay_events": self.relay_events,
            "projection_events": self.projection_events,
            "projection_seconds": self.projection_seconds,
        }


async def _bounded(name: str, check: Callable[[], Awaitable[object]]) -> tuple[str, str]:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except TimeoutError:
        return name, f"error: no answer within {CHECK_TIMEOUT_S} s"
    except Exception as error:
        return name, f"error: {type(error).__name__}"
    return name, "ok"


async def _nats_answers(url: str) -> None:
    async def quiet(error: Exception) -> None:
        return None

    connection = await nats.connect(
        nats_servers(url),
        connect_timeout=CHECK_TIMEOUT_S,
        max_reconnect_attempts=0,
        allow_reconnect=False,
        error_cb=quiet,
    )
    with contextlib.suppress(Exception):
        await connection.close()


def lag(app: PPCXApplication, reports: SnapshotReader, clock: Clock) -> Lag:
    """How far the relay and what readers see trail the store's head (blocking reads)."""
    head = app.store.head()
    relay = head - app.positions().position(RELAY_NAME)
    try:
        row = (
            reports.cursor()
            .execute("SELECT position FROM projection_position WHERE name = 'events'")
            .fetchone()
        )
    except NoProjections:
        return Lag(head, relay, None, None)
    projected = int(row[0]) if row else 0
    behind_s = 0.0
    if projected < head:
        rows = app.store.read_chained(projected + 1, 1)
        state = rows[0][4] if rows else None
        if state is not None:
            stamp = orjson.loads(state).get("timestamp")
            if isinstance(stamp, str):
                age = clock.now() - datetime.fromisoformat(stamp)
                behind_s = max(0.0, round(age.total_seconds(), 3))
    return Lag(head, relay, head - projected, behind_s)


async def readiness(
    *,
    app: PPCXApplication,
    ping_redis: Callable[[], Awaitable[object]],
    nats_url: str,
    reports: SnapshotReader,
    clock: Clock,
    in_thread: Callable[..., Awaitable[Any]],
) -> dict[str, Any]:
    """`{"checks": {event_store, redis, nats: "ok" | "error: …"}, "lag": {…}}`, every part
    bounded by `CHECK_TIMEOUT_S`."""
    where = nats_where(nats_url)
    checks = dict(
        await asyncio.gather(
            _bounded("event_store", lambda: in_thread(app.store.head)),
            _bounded("redis", ping_redis),
            _bounded("nats", lambda: _nats_answers(nats_url)),
        )
    )
    if checks["nats"] != "ok":
        checks["nats"] += f" at {where}"
    found: Lag | None = None
    with contextlib.suppress(Exception):
        found = await asyncio.wait_for(in_thread(lag, app, reports, clock), CHECK_TIMEOUT_S)
    return {"checks": checks, "lag": found.to_dict() if found is not None else None}
