"""Dynamic number insertion: pool numbers leased to web sessions, so a call to the number a
visitor saw is attributed to that visitor's source, keyword and session (state in Redis:
a lease per session with its TTL, the pool's numbers by last use, each number's owner, and
per session the numbers it leased, so a ping naming only the session finds its number)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import redis.asyncio as aioredis

from domain.clock import to_ms
from domain.limits import DNI_SESSION_LENGTH
from exchange.hotstate import load_script
from exchange.keys import Keys

# what a page may name its session
SESSION_PATTERN = rf"^[A-Za-z0-9_.\-]{{{DNI_SESSION_LENGTH.minimum},{DNI_SESSION_LENGTH.maximum}}}$"
_SESSION_RE = re.compile(SESSION_PATTERN)


def is_session(value: str) -> bool:
    return bool(_SESSION_RE.fullmatch(value))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class Lease:
    number: str
    reused: bool  # a live lease was taken from another session (the pool is exhausted)


class DniLeases:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self.redis = client
        self.keys = keys
        self.script = client.register_script(load_script("dni_lease"))
        self.index_script = client.register_script(load_script("dni_session"))

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
        number = _text(answer[0])
        await self.index_script(
            keys=[k.dni_session_leases(session)], args=[pool_id, number, ttl_s * 1000]
        )
        return Lease(number, bool(answer[1]))

    async def owner(self, pool_id: str, number: str, at: datetime) -> dict[str, Any] | None:
        """Who holds `number` now: {session, attribution, …}, or None when nobody does."""
        raw = await self.redis.hget(self.keys.dni_owner(pool_id), number)
        if not raw:
            return None
        owner: dict[str, Any] = orjson.loads(raw)
        return owner if owner["expires_ms"] > to_ms(at) else None

    async def held_by(self, session: str, at: datetime) -> list[tuple[str, str]]:
        """The (pool id, number) pairs `session` holds now (a lease of its own, unexpired)."""
        if not is_session(session):
            return []
        leased = await self.redis.hgetall(self.keys.dni_session_leases(session))
        held = []
        for raw_pool, raw_number in sorted(leased.items()):
            pool_id, number = _text(raw_pool), _text(raw_number)
            owner = await self.owner(pool_id, number, at)
            if owner is not None and owner["session"] == session:
                held.append((pool_id, number))
        return held
