"""What the routers need, built by the composition root and handed to `build_app`."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from api.key_usage import KeyUsage
from api.keys import KeyHasher
from api.metrics import Metrics
from domain.clock import Clock
from domain.limits import KEY_EXPIRY_WARNING_DAYS_DEFAULT
from eventstore.application import PPCXApplication
from eventstore.deliveries import DeliveryStore
from eventstore.recent import RecentReads
from evidence.transcripts import TranscriptStore
from evidence.twilio_fetch import RecordingWorker
from exchange.auctions import AuctionService
from exchange.call_life import CallLife
from exchange.caller_hash import CallerHasher
from exchange.dni import DniLeases
from exchange.hotstate import HotState
from exchange.key_hygiene import KeyHygiene
from exchange.qualification import IvrStates, QualificationService
from exchange.sweeper import Sweeper
from handlers.calls import CallHandlers
from handlers.saved_queries import SavedQueryHandlers
from handlers.setup import SetupHandlers
from handlers.users import UserHandlers
from handlers.webhooks import WebhookHandlers
from projections.readers import SnapshotReader
from webhooks.outbound import Network

T = TypeVar("T")
KEY_CACHE_MAX_AGE_S = 1.0
KEY_CACHE_MAXSIZE = 100_000


@dataclass(frozen=True)
class ApiConfig:
    twilio_auth_token: str | None = None
    public_base_url: str | None = None
    bootstrap_admin_key: str | None = None
    idempotency_ttl_s: int = 24 * 3600
    body_bytes_max: int = 64 * 1024
    key_expiry_warning_days: int = KEY_EXPIRY_WARNING_DAYS_DEFAULT  # the portal's banner


@dataclass(frozen=True)
class KnownKey:
    """What authentication needs of a stored API key."""

    role: str
    owner_id: str | None
    key_hash: str
    revoked: bool
    expires_at: datetime | None = None


class KeyCache(RecentReads[KnownKey]):
    """Stored API keys as read at most `max_age_s` ago: authentication reads the event store
    once per key and interval, not on every request. A key revoked through this process is
    forgotten at once; the other workers refuse it within `max_age_s`."""

    def __init__(
        self,
        max_age_s: float = KEY_CACHE_MAX_AGE_S,
        *,
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(KEY_CACHE_MAXSIZE, max_age_s, monotonic_s=monotonic_s)


@dataclass
class ApiServices:
    app: PPCXApplication
    setup: SetupHandlers
    users: UserHandlers
    saved_queries: SavedQueryHandlers
    calls: CallHandlers
    webhooks: WebhookHandlers
    auctions: AuctionService
    call_life: CallLife
    sweeper: Sweeper
    hot: HotState
    dni: DniLeases
    reports: SnapshotReader
    keys: KeyHasher
    callers: CallerHasher
    clock: Clock
    config: ApiConfig
    metrics: Metrics
    executor: ThreadPoolExecutor
    sync_config: Callable[[], int]  # brings Redis's derived state up to the log
    readiness: Callable[[], Awaitable[dict[str, Any]]]  # {checks: {…}, lag: {…} | None}
    key_usage: KeyUsage
    deliveries: DeliveryStore  # webhook deliveries and their attempts
    webhook_networks: tuple[Network, ...]  # what webhooks may reach besides public addresses
    qualification: QualificationService  # IVR questions before a Twilio call's auction
    ivr_states: IvrStates  # the signed state between a call's IVR questions
    known_keys: KeyCache = field(default_factory=KeyCache)
    key_hygiene: KeyHygiene | None = None  # API keys' expiry warnings and unused expiry
    recorder: RecordingWorker | None = None  # call recordings: queue, fetch, store, retention
    transcripts: TranscriptStore | None = None  # call evidence: redacted transcripts

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run synchronous (event-store) work off the event loop, on the bounded pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    async def configured(self, fn: Callable[..., T], *args: Any) -> T:
        """A set-up command, then this process's hot state brought up to date at once (the
        other processes follow within their next sync tick)."""
        result = await self.call(fn, *args)
        await self.call(self.sync_config)
        return result
