"""Sign-in attempts, limited: at most LOGIN_FAILURES_MAX failures per address and per client
address within LOGIN_WINDOW_S (counters in Redis with the window as TTL). Only hashes of
addresses reach Redis. Without Redis, sign-in is refused rather than left unlimited."""

from __future__ import annotations

import hashlib

import redis.asyncio as aioredis

from domain.limits import LOGIN_FAILURES_MAX, LOGIN_WINDOW_S
from exchange.keys import Keys

# the window starts at the first failure (SET NX: Redis 6.2 has no EXPIRE NX)
_COUNT_FAILURE = """
redis.call('SET', KEYS[1], 0, 'EX', ARGV[1], 'NX')
return redis.call('INCR', KEYS[1])
"""


class LoginLimiter:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._redis = client
        self._keys = keys
        self._count = client.register_script(_COUNT_FAILURE)

    def _slots(self, email: str, client_ip: str) -> list[str]:
        return [
            self._keys.login_failures(hashlib.sha256(f"{kind}|{value}".encode()).hexdigest())
            for kind, value in (("email", email), ("ip", client_ip))
        ]

    async def retry_after_s(self, email: str, client_ip: str) -> int:
        """0 when a sign-in may be tried; otherwise the seconds until one may."""
        waits = []
        for slot in self._slots(email, client_ip):
            failures = await self._redis.get(slot)
            if failures is not None and int(failures) >= LOGIN_FAILURES_MAX:
                waits.append(max(1, int(await self._redis.ttl(slot))))
        return max(waits, default=0)

    async def failed(self, email: str, client_ip: str) -> None:
        # one script per counter: the two live in different hash slots on a Redis Cluster
        for slot in self._slots(email, client_ip):
            await self._count(keys=[slot], args=[LOGIN_WINDOW_S])

    async def succeeded(self, email: str) -> None:
        await self._redis.delete(self._slots(email, "")[0])
