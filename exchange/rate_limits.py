"""Token buckets in Redis (`token_bucket.lua`, one key per bucket with its own hash tag, so
any Redis Cluster slot holds it): a publisher's pings, a DNI client's requests, the RTB
requests sent to one buyer endpoint. The time is the injected clock's, passed to the script;
tokens are counted in milli-tokens, integers only. Over `[t0, t1]` a bucket accepts at most
`burst + rate_per_s × (t1 - t0)` requests."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import redis.asyncio as aioredis

from domain.clock import Clock, to_ms
from domain.errors import RateLimited
from domain.invariant import invariant
from domain.limits import RATE_LIMITED_REPORT_EVERY_MS
from exchange.hotstate import load_script
from exchange.keys import Keys


@dataclass(frozen=True, slots=True)
class Limit:
    """A bucket's policy: its name (the `RateLimit-Policy` header's), its refill and size."""

    policy: str
    rate_per_s: int
    burst: int

    def __post_init__(self) -> None:
        invariant(self.rate_per_s >= 1 and self.burst >= 1, f"a usable limit: {self}")


@dataclass(frozen=True, slots=True)
class Taken:
    """One request's answer: allowed or not, what is left, when to retry, and — at most once
    per report interval — how many refusals to record (`reported`, since `since_ms`)."""

    allowed: bool
    remaining: int
    retry_after_ms: int
    full_after_ms: int
    reported: int
    since_ms: int | None


def hashed(value: str) -> str:
    """An owner that must not appear in a key as it is (a client address, a URL)."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class RateLimiter:
    def __init__(self, client: aioredis.Redis, keys: Keys, clock: Clock) -> None:
        self.keys = keys
        self.clock = clock
        self.script = client.register_script(load_script("token_bucket"))

    async def take(self, scope: str, owner: str, limit: Limit) -> Taken:
        """One token of the owner's bucket in `scope`, if there is one."""
        now_ms = to_ms(self.clock.now())
        raw = await self.script(
            keys=[self.keys.rate_bucket(scope, owner)],
            args=[now_ms, limit.rate_per_s, limit.burst, RATE_LIMITED_REPORT_EVERY_MS],
        )
        allowed, remaining, retry_ms, full_ms, reported, since = (int(v) for v in raw)
        return Taken(
            allowed == 1, remaining, retry_ms, full_ms, reported, None if since < 0 else since
        )


def policy_header(limit: Limit) -> str:
    """`RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers): the bucket's quota and the
    window it refills in (`burst` per `burst / rate` seconds, at least one)."""
    window_s = max(1, -(-limit.burst // limit.rate_per_s))
    return f'"{limit.policy}";q={limit.burst};w={window_s}'


def limit_header(limit: Limit, taken: Taken) -> str:
    """`RateLimit`: what is left and the seconds until the bucket is full again."""
    reset_s = -(-taken.full_after_ms // 1000)
    return f'"{limit.policy}";r={taken.remaining};t={reset_s}'


def refusal(limit: Limit, taken: Taken, message: str) -> RateLimited:
    """The error a refused request raises: the API answers it with a 429 and the headers."""
    return RateLimited(
        message,
        policy=policy_header(limit),
        state=limit_header(limit, taken),
        retry_after_ms=taken.retry_after_ms,
    )
