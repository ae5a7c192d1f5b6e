"""Dynamic number insertion: pool numbers leased to web sessions, so a call to the number a
visitor saw is attributed to that visitor's source, keyword and session (state in Redis:
a lease per session with its TTL, the pool's numbers by last use, each number's owner)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import redis.asyncio as aioredis

from domain.clock import to_ms
from exchange.hotstate import load_script
from exchange.keys import Keys


@dataclass(frozen=True)
class Lease:
    number: str
    reused: bool  # a live lease was taken from another session (the pool is exhausted)


class DniLeases:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self.redis = client
        self.keys = keys
        self.script = client.register_script(load_script("dni_lease"))

    async def lease(
        self,
        pool_id: str,
        numbers: Sequence[str],
        session: str,
        attribution: dict[str, Any],
        at: datetime,
        ttl_s: int,
    ) -> Lease | None:
        k = self.keys
        if await self.redis.zcard(k.dni_numbers(pool_id)) < len(numbers):
            await self.redis.zadd(k.dni_numbers(pool_id), dict.fromkeys(numbers, 0), nx=True)
        answer = await self.script(
            keys=[k.dni_lease(pool_id, session), k.dni_numbers(pool_id), k.dni_owner(pool_id)],
            args=[session, to_ms(at), ttl_s * 1000, orjson.dumps(attribution)],
        )
        if not answer:
            return None
        number, reused = answer
        return Lease(number.decode() if isinstance(number, bytes) else number, bool(reused))

    async def owner(self, pool_id: str, number: str, at: datetime) -> dict[str, Any] | None:
        """Who holds `number` now: {session, attribution, …}, or None when nobody does."""
        raw = await self.redis.hget(self.keys.dni_owner(pool_id), number)
        if not raw:
            return None
        owner: dict[str, Any] = orjson.loads(raw)
        return owner if owner["expires_ms"] > to_ms(at) else None
