"""When each API key was last used: a hint for `GET /v1/api-keys`, kept in Redis, never an
event. The authentication path writes a key's time at most once per `interval_s` per process
(a small bounded memo of what it wrote), so a busy key costs one HSET a minute, not one per
request. Redis being down never fails a request: the hint is then simply not updated."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from domain.clock import Clock
from exchange.keys import Keys

logger = logging.getLogger(__name__)
KEY_USAGE_INTERVAL_S = 60
KEY_USAGE_MEMO_MAXSIZE = 100_000


class KeyUsage:
    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        clock: Clock,
        *,
        interval_s: int = KEY_USAGE_INTERVAL_S,
    ) -> None:
        self._redis = client
        self._hash = keys.keys_used()
        self._clock = clock
        self._interval_ms = interval_s * 1000
        self._written_ms: OrderedDict[str, int] = OrderedDict()  # key id → last write

    async def touch(self, key_id: str) -> None:
        """Record that `key_id` was used now, unless this process did within the interval."""
        now_ms = int(self._clock.now().timestamp() * 1000)
        last_ms = self._written_ms.get(key_id)
        if last_ms is not None and now_ms - last_ms < self._interval_ms:
            return
        self._written_ms[key_id] = now_ms
        self._written_ms.move_to_end(key_id)
        while len(self._written_ms) > KEY_USAGE_MEMO_MAXSIZE:
            self._written_ms.popitem(last=False)
        try:
            await self._redis.hset(self._hash, key_id, str(now_ms))
        except (RedisError, OSError):
            logger.warning("could not record an API key's last use", exc_info=True)

    async def last_used(self, key_ids: Sequence[str]) -> dict[str, datetime]:
        """The last recorded use of each key that has one."""
        if not key_ids:
            return {}
        values = await self._redis.hmget(self._hash, list(key_ids))
        return {
            key_id: datetime.fromtimestamp(int(raw) / 1000, UTC)
            for key_id, raw in zip(key_ids, values, strict=True)
            if raw is not None
        }
