"""Real-time bids from buyers' own HTTP endpoints.

Every RTB target gets a POST of the ping — the caller's *hash* and geo, never the number — and
answers `{"bid": "52.00", "expires_in_s": 60}` or `{"bid": null}`. Requests run concurrently
over one pooled `httpx.AsyncClient`, each under its target's deadline (default 150 ms) and all
under the campaign's overall deadline. A late, failed or malformed answer becomes a
`timed_out` / `rejected` outcome with its reason and latency, and is otherwise ignored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from domain.call_state import BidOutcomeKind, BidSource
from domain.commands import BidOutcome
from domain.errors import ValidationError
from domain.invariant import invariant, present
from domain.money import parse_cents
from exchange.market import TargetRule

RESPONSE_BYTES_MAX = 16 * 1024
_unwinding: set[asyncio.Task[RtbAnswer]] = set()  # cancelled requests, referenced until done
EXPIRES_IN_S_MAX = 3600
RATE_LIMITED = "rate_limited"  # the reason of a bid not asked: its endpoint is over its limit


@dataclass(frozen=True, slots=True)
class RtbAnswer:
    outcome: BidOutcome
    expires_in_s: int | None = None


def make_client(max_connections: int = 256) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        headers={"user-agent": "ppcx-rtb/1", "content-type": "application/json"},
        follow_redirects=False,
    )


def _parse(  # noqa: PLR0911 - one early return per way an answer can be wrong
    target: TargetRule, body: bytes, latency_ms: int, floor_cents: int
) -> RtbAnswer:
    def rejected(reason: str, amount: int | None = None) -> RtbAnswer:
        return RtbAnswer(
            BidOutcome(
                target.target_id,
                target.buyer_id,
                BidOutcomeKind.REJECTED,
                amount_cents=amount,
                reason=reason,
                source=BidSource.RTB,
                latency_ms=latency_ms,
                priority=target.priority,
                weight=target.weight,
            )
        )

    if len(body) > RESPONSE_BYTES_MAX:
        return rejected("malformed:too_large")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return rejected("malformed:not_json")
    if not isinstance(data, dict) or "bid" not in data:
        return rejected("malformed:no_bid_field")
    if data["bid"] is None:
        return rejected("no_bid")
    try:
        amount = parse_cents(data["bid"], "bid")
    except ValidationError:
        return rejected("malformed:bid")
    if amount <= 0:
        return rejected("malformed:bid")
    if amount < floor_cents:
        return rejected("below_floor", amount)
    expires = data.get("expires_in_s")
    if expires is not None and (
        isinstance(expires, bool)
        or not isinstance(expires, int)
        or not 1 <= expires <= EXPIRES_IN_S_MAX
    ):
        return rejected("malformed:expires_in_s", amount)
    return RtbAnswer(
        BidOutcome(
            target.target_id,
            target.buyer_id,
            BidOutcomeKind.RECEIVED,
            amount_cents=amount,
            source=BidSource.RTB,
            latency_ms=latency_ms,
            priority=target.priority,
            weight=target.weight,
            target_version=target.version,
        ),
        expires,
    )


async def _ask(
    client: httpx.AsyncClient, target: TargetRule, body: bytes, deadline_ms: int, floor_cents: int
) -> RtbAnswer:
    url = present(target.rtb_url, "a real-time target has a URL")
    timeout_ms = min(target.rtb_timeout_ms, deadline_ms)
    started = time.perf_counter()

    def latency() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        async with asyncio.timeout(timeout_ms / 1000):
            response = await client.post(url, content=body, timeout=timeout_ms / 1000)
            payload = response.content
    except (TimeoutError, httpx.TimeoutException):
        return RtbAnswer(
            BidOutcome(
                target.target_id,
                target.buyer_id,
                BidOutcomeKind.TIMED_OUT,
                source=BidSource.RTB,
                latency_ms=latency(),
                timeout_ms=timeout_ms,
                priority=target.priority,
                weight=target.weight,
            )
        )
    except httpx.HTTPError as error:
        return RtbAnswer(
            BidOutcome(
                target.target_id,
                target.buyer_id,
                BidOutcomeKind.REJECTED,
                reason=f"unreachable:{type(error).__name__}",
                source=BidSource.RTB,
                latency_ms=latency(),
                priority=target.priority,
                weight=target.weight,
            )
        )
    if response.status_code == 204:
        payload = b'{"bid": null}'
    elif response.status_code != 200:
        return RtbAnswer(
            BidOutcome(
                target.target_id,
                target.buyer_id,
                BidOutcomeKind.REJECTED,
                reason=f"http_{response.status_code}",
                source=BidSource.RTB,
                latency_ms=latency(),
                priority=target.priority,
                weight=target.weight,
            )
        )
    return _parse(target, payload, latency(), floor_cents)


async def _not_asked(target: TargetRule) -> RtbAnswer:
    return RtbAnswer(
        BidOutcome(
            target.target_id,
            target.buyer_id,
            BidOutcomeKind.REJECTED,
            reason=RATE_LIMITED,
            source=BidSource.RTB,
            priority=target.priority,
            weight=target.weight,
        )
    )


async def collect_rtb_bids(
    client: httpx.AsyncClient,
    targets: Sequence[TargetRule],
    request: dict[str, Any],
    *,
    deadline_ms: int,
    floor_cents: int,
    over_limit: frozenset[str] = frozenset(),
) -> list[RtbAnswer]:
    """Ask every RTB target at once; return one answer per target by the deadline. A target
    in `over_limit` (its endpoint is over its rate limit) is not asked: its answer is a
    rejection, `rate_limited`."""
    if not targets:
        return []
    invariant("caller_number" not in request, "never send the caller's number")
    invariant("number" not in request.get("caller", {}), "never send the caller's number")
    body = orjson.dumps(request)
    tasks = [
        asyncio.create_task(
            _not_asked(t)
            if t.target_id in over_limit
            else _ask(client, t, body, deadline_ms, floor_cents)
        )
        for t in targets
    ]
    done, pending = await asyncio.wait(tasks, timeout=deadline_ms / 1000)
    for task in pending:  # their outcome is "timed out"; let them unwind off the hot path
        task.cancel()
        _unwinding.add(task)
        task.add_done_callback(_unwinding.discard)
    answers = []
    for target, task in zip(targets, tasks, strict=True):
        if task in done and not task.cancelled() and task.exception() is None:
            answers.append(task.result())
        else:
            answers.append(
                RtbAnswer(
                    BidOutcome(
                        target.target_id,
                        target.buyer_id,
                        BidOutcomeKind.TIMED_OUT,
                        source=BidSource.RTB,
                        latency_ms=deadline_ms,
                        timeout_ms=deadline_ms,
                        priority=target.priority,
                        weight=target.weight,
                    )
                )
            )
    return answers
