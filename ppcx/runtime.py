"""The one runtime object of a PPCX process: what a role runs on, built from settings.

An API worker, the sweeper and the tools each build one `Runtime` (the settings reach a
spawned role pickled inside `ppcx.roles.ServePlan`, never through the environment). It holds
the event-sourced core (application, writer, handlers), the exchange's services over Redis,
**one** thread pool for blocking work (the event store is synchronous: every store call from
the event loop hops to it), the caller hasher and the API-key hasher; `start()` brings
Redis's derived state up to the log, `close()` releases everything once, in reverse order.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from api.keys import KeyHasher
from domain.clock import Clock
from ppcx.bootstrap import Domain, ExchangeRuntime, build_domain, build_exchange
from ppcx.secrets import secret_key
from ppcx.settings import Settings
from replay import recovery

logger = logging.getLogger(__name__)
T = TypeVar("T")
IO_THREADS = 32  # blocking store work of one process (a bound, like every queue here)


@dataclass
class Runtime:
    settings: Settings
    domain: Domain
    exchange: ExchangeRuntime
    executor: ThreadPoolExecutor
    keys: KeyHasher
    _sync_lock: threading.Lock = field(default_factory=threading.Lock)
    _rebuilding: asyncio.Task[None] | None = None
    _closed: bool = False

    @property
    def clock(self) -> Clock:
        return self.domain.clock

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Blocking (event-store) work off the event loop, on the one pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args))

    def sync_config(self) -> int:
        """Bring Redis's derived configuration up to the log (one follower at a time)."""
        with self._sync_lock:
            return self.exchange.sync.catch_up()

    async def start(self) -> None:
        """Redis's derived state present (established on a new namespace, rebuilt from the
        log when it was lost), then brought up to the log."""
        outcome = await self.call(
            recovery.ensure,
            self.domain.app,
            self.exchange.redis_sync,
            self.settings.redis_prefix,
            self.clock.now(),
        )
        if outcome != "present":
            logger.info("Redis state: %s", outcome)
        await self.call(self.sync_config)

    async def tick(self) -> None:
        """The follower's tick: configuration up to the log, and a check that the state was
        not lost under a restarted server."""
        await self.call(self.sync_config)
        if await self.call(recovery.watch, self.exchange.redis_sync, self.settings.redis_prefix):
            self.state_lost("*")

    def state_lost(self, market: str) -> None:
        """A script found the state gone: rebuild it from the log (one rebuild at a time in
        this process; across processes the rebuild lock decides). Called on the loop."""
        if self._rebuilding is not None and not self._rebuilding.done():
            return
        logger.warning("Redis lost the exchange's state (market %s); rebuilding", market)
        self._rebuilding = asyncio.get_running_loop().create_task(self._rebuild())

    async def _rebuild(self) -> None:
        try:
            await self.call(
                recovery.rebuild,
                self.domain.app,
                self.exchange.redis_sync,
                self.settings.redis_prefix,
                self.clock.now(),
            )
        except Exception:  # the next ping or tick that finds it lost tries again
            logger.exception("rebuilding Redis's state failed")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._rebuilding is not None:
            await asyncio.gather(self._rebuilding, return_exceptions=True)
        await self.exchange.close()
        self.executor.shutdown(wait=True)
        self.domain.close()


def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    seeds: Callable[[], int] | None = None,
    on_commit: Callable[[float, int], None] | None = None,
) -> Runtime:
    """The runtime for `settings` (Redis must be configured: `ppcx serve` resolves the
    embedded one before it starts the roles). Build and close it inside an event loop."""
    if not settings.redis_url:
        raise RuntimeError("a runtime needs REDIS_URL (ppcx serve sets it)")
    executor = ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="ppcx-io")
    domain = build_domain(settings, clock=clock, group_commit=True, on_commit=on_commit)
    exchange = build_exchange(
        settings, domain, redis_url=settings.redis_url, seeds=seeds, executor=executor
    )
    runtime = Runtime(
        settings=settings,
        domain=domain,
        exchange=exchange,
        executor=executor,
        keys=KeyHasher(secret_key(settings)),
    )
    exchange.hot.on_lost = runtime.state_lost
    return runtime
