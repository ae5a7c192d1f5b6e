"""Caller velocity in Redis (`velocity.lua`): each caller's recent pings across all campaigns,
a sorted set per caller hash with its own hash tag, counted and added in one atomic script
with the injected clock's time. The rule that reads the count is `domain.screening.screen`."""

from __future__ import annotations

import contextlib

import redis.asyncio as aioredis

from domain.limits import VELOCITY_KEPT_MAX, VELOCITY_WINDOW_S
from exchange.hotstate import load_script
from exchange.keys import Keys
from exchange.redis_clients import UNAVAILABLE

KEEP_MS = VELOCITY_WINDOW_S.maximum * 1000  # the longest window any campaign may set


class VelocityCounter:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self.redis = client
        self.keys = keys
        self.script = client.register_script(load_script("velocity"))

    async def count_and_add(self, caller_hash: str, call_id: str, at_ms: int, window_s: int) -> int:
        """The caller's other pings within `window_s` before `at_ms` (0 when `window_s` is
        0), this ping added."""
        raw = await self.script(
            keys=[self.keys.velocity(caller_hash)],
            args=[at_ms, window_s * 1000, call_id, KEEP_MS, VELOCITY_KEPT_MAX],
        )
        return int(raw)

    async def forget(self, caller_hash: str, call_id: str) -> None:
        """Take back a ping that was counted but never recorded (its auction failed), so the
        count stays what the log can justify. Best effort: Redis may be the failure."""
        with contextlib.suppress(*UNAVAILABLE):
            await self.redis.zrem(self.keys.velocity(caller_hash), call_id)
