"""API key hygiene, on the sweeper's tick: a key about to expire warns its owner once
(`ApiKey.ExpiryWarned`, sent as the `api_key.expiring` webhook) when it enters the last
`warning_days` before its expiry; a key unused for `unused_expire_days` (its last use as the API
keeps it in Redis, else its issue) is expired by "system" (`ApiKey.ExpiredUnused`, with the
reason). Both are off when their days are 0. Last uses are a hint Redis keeps (never events):
when it holds none at all — a Redis that lost its data — no key is expired for being unused.

Which keys exist is read from the log's `ApiKey.Issued` events, from where the last tick stopped;
a key revoked or expired is never looked at again (neither is ever undone). The handlers check
each decision again in their unit of work, so two sweepers ticking at once record it once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from domain.api_key import ApiKey
from domain.catalog import topic_of
from domain.clock import Clock
from domain.commands import ExpireUnusedApiKey, WarnApiKeyExpiry
from eventstore.application import PPCXApplication
from exchange.blocking import in_thread
from exchange.keys import Keys
from handlers.setup import SetupHandlers

logger = logging.getLogger(__name__)
ISSUED = topic_of(ApiKey.Issued)
PAGE_ROWS = 1_000
KEYS_WATCHED_MAX = 100_000  # keys this task looks after, at most
KEY_HYGIENE_INTERVAL_S = 60  # a tick looks at the keys at most this often (the clock's time)
SYSTEM_BY = "system"


@dataclass
class HygieneTick:
    warned: list[str]
    expired: list[str]


class KeyHygiene:
    def __init__(
        self,
        *,
        app: PPCXApplication,
        setup: SetupHandlers,
        redis_client: aioredis.Redis,
        keys: Keys,
        clock: Clock,
        executor: ThreadPoolExecutor,
        warning_days: int,
        unused_expire_days: int,
        forget: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self.setup = setup
        self.redis = redis_client
        self.used_hash = keys.keys_used()
        self.clock = clock
        self.executor = executor
        self.warning_days = warning_days
        self.unused_expire_days = unused_expire_days
        self.forget = forget  # an API process's key cache: an expired key refused at once
        self._position = 0
        self._issued: dict[str, datetime] = {}  # usable (as last seen) key id -> issued at
        self._last_tick: datetime | None = None

    async def tick_if_due(self) -> HygieneTick | None:
        """`tick`, at most every `KEY_HYGIENE_INTERVAL_S` of the clock."""
        now = self.clock.now()
        if self._last_tick is not None and now - self._last_tick < timedelta(
            seconds=KEY_HYGIENE_INTERVAL_S
        ):
            return None
        return await self.tick()

    async def tick(self) -> HygieneTick:
        """Warn of the keys expiring soon and expire the unused ones, now."""
        now = self.clock.now()
        self._last_tick = now
        done = HygieneTick([], [])
        if self.warning_days <= 0 and self.unused_expire_days <= 0:
            return done
        await in_thread(self.executor, self._read_issued)
        last_used = await self._last_used(list(self._issued))
        # no use recorded at all (Redis lost its data, say): last uses unknown, none expired
        uses_known = bool(last_used)
        for key_id, issued_at in list(self._issued.items()):
            key = await in_thread(self.executor, self.app.find, ApiKey, key_id)
            if key is None or not key.usable_at(now):
                self._issued.pop(key_id, None)  # never usable again
                continue
            since = max(issued_at, last_used.get(key_id, issued_at))
            unused = self.unused_expire_days
            if uses_known and unused > 0 and now - since >= timedelta(days=unused):
                command = ExpireUnusedApiKey(key_id, since, unused, SYSTEM_BY)
                if await in_thread(self.executor, self.setup.expire_unused_api_key, command):
                    done.expired.append(key_id)
                    self._issued.pop(key_id, None)
                    if self.forget is not None:
                        self.forget(key_id)
                continue
            if key.needs_warning(now, self.warning_days):
                warn = WarnApiKeyExpiry(key_id, self.warning_days, SYSTEM_BY)
                if await in_thread(self.executor, self.setup.warn_api_key_expiry, warn):
                    done.warned.append(key_id)
        if done.warned or done.expired:
            logger.info("api keys: warned %d, expired %d", len(done.warned), len(done.expired))
        return done

    def _read_issued(self) -> None:
        head = self.app.store.head()
        while self._position < head:
            rows = self.app.store.read_topics(
                self._position + 1, PAGE_ROWS, stop=head, topics=[ISSUED]
            )
            for _, key_id, _, _, state in rows:
                if len(self._issued) >= KEYS_WATCHED_MAX:
                    raise RuntimeError(f"more than {KEYS_WATCHED_MAX} API keys: raise the bound")
                self._issued[key_id] = datetime.fromisoformat(orjson.loads(state)["timestamp"])
            self._position = rows[-1][0] if len(rows) == PAGE_ROWS else head

    async def _last_used(self, key_ids: list[str]) -> dict[str, datetime]:
        """Each key's last use as the API recorded it (Redis down: the tick fails, logged,
        and the next one tries again: no key is expired for a use that went unseen)."""
        if not key_ids:
            return {}
        try:
            values = await self.redis.hmget(self.used_hash, key_ids)
        except (RedisError, OSError):
            logger.warning("api keys: last uses unknown (Redis); not expiring unused keys")
            raise
        return {
            key_id: datetime.fromtimestamp(int(raw) / 1000, UTC)
            for key_id, raw in zip(key_ids, values, strict=True)
            if raw is not None
        }
