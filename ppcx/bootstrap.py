"""The composition root: builds the object graph from settings. Nothing else wires things."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import redis
import redis.asyncio as aioredis

from domain.clock import Clock, SystemClock
from eventstore.application import PPCXApplication
from eventstore.chain import chain_key
from eventstore.writer import EventWriter
from evidence.recordings import DirectoryStore, RecordingStore, s3_store
from evidence.twilio_fetch import RecordingWorker, TwilioApi
from exchange.auctions import RTB_SCOPE, AuctionService
from exchange.bidders import make_client
from exchange.call_life import CallLife
from exchange.caller_hash import CallerHasher
from exchange.config_sync import ConfigSync
from exchange.hotstate import HotState
from exchange.key_hygiene import KeyHygiene
from exchange.keys import Keys
from exchange.qualification import IvrStates, QualificationService
from exchange.rate_limits import Limit, RateLimiter
from exchange.redis_clients import async_client, sync_client
from exchange.sweeper import Sweeper
from handlers.calls import CallHandlers
from handlers.recordings import RecordingHandlers
from handlers.saved_queries import SavedQueryHandlers
from handlers.scoring import ScoringHandlers
from handlers.setup import SetupHandlers
from handlers.unit_of_work import HandlerContext
from handlers.users import UserHandlers
from handlers.webhooks import WebhookHandlers, WebhookPolicy
from ppcx.secrets import audit_key, secret_key
from ppcx.settings import Settings
from webhooks.outbound import OutboundPolicy, parse_networks
from webhooks.secrets import secret_for

DOMAIN_THREADS = 32
REDIS_TIMEOUT_S = 2.0  # a command: Redis answers in well under a millisecond when up
REDIS_CONNECT_TIMEOUT_S = 1.0


@dataclass
class Domain:
    """The event-sourced core: the application, its writer and the command handlers."""

    app: PPCXApplication
    writer: EventWriter
    ctx: HandlerContext
    setup: SetupHandlers
    users: UserHandlers
    saved_queries: SavedQueryHandlers
    calls: CallHandlers
    webhooks: WebhookHandlers
    recordings: RecordingHandlers
    scoring: ScoringHandlers
    clock: Clock = field(default_factory=SystemClock)

    def close(self) -> None:
        self.writer.close()
        self.app.close()


def build_application(settings: Settings) -> PPCXApplication:
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    return PPCXApplication(env=settings.eventstore_env(), chain_key=chain_key(audit_key(settings)))


def build_domain(
    settings: Settings,
    *,
    clock: Clock | None = None,
    group_commit: bool = False,
    on_commit: Callable[[float, int], None] | None = None,
) -> Domain:
    clock = clock or SystemClock()
    app = build_application(settings)
    writer = EventWriter(app, group_commit=group_commit, on_commit=on_commit)
    ctx = HandlerContext(app=app, writer=writer, clock=clock)
    return Domain(
        app=app,
        writer=writer,
        ctx=ctx,
        setup=SetupHandlers(ctx),
        users=UserHandlers(ctx),
        saved_queries=SavedQueryHandlers(ctx),
        calls=CallHandlers(ctx),
        webhooks=WebhookHandlers(ctx, webhook_policy(settings)),
        recordings=RecordingHandlers(ctx),
        scoring=ScoringHandlers(ctx),
        clock=clock,
    )


def webhook_policy(settings: Settings) -> WebhookPolicy:
    """Which URLs webhooks may name, and their secrets (derived from the deployment's)."""
    outbound = OutboundPolicy(parse_networks(settings.webhook_allowed_networks))
    return WebhookPolicy(
        check_url=outbound.check, secret_of=functools.partial(secret_for, secret_key(settings))
    )


def recording_store(settings: Settings) -> RecordingStore:
    """The recordings store: S3-compatible object storage when PPCX_RECORDINGS_S3_URL is
    set, else a directory (PPCX_RECORDINGS_DIR, default <data dir>/recordings)."""
    if settings.recordings_s3_url:
        bucket, _, prefix = settings.recordings_s3_url.removeprefix("s3://").partition("/")
        return s3_store(
            endpoint_url=settings.recordings_s3_endpoint,
            bucket=bucket,
            prefix=prefix,
            region=settings.recordings_s3_region,
            access_key_id=settings.recordings_s3_access_key_id,
            secret_access_key=settings.recordings_s3_secret_access_key,
        )
    return DirectoryStore(settings.resolved_recordings_dir)


def twilio_api(settings: Settings) -> TwilioApi | None:
    """Twilio's REST API with the account's credentials (None: recordings are not fetched)."""
    if not settings.twilio_account_sid or not settings.twilio_auth_token:
        return None
    return TwilioApi(
        settings.twilio_api_base, settings.twilio_account_sid, settings.twilio_auth_token
    )


@dataclass
class ExchangeRuntime:
    """The exchange's services and the clients they own (async: build and close inside an
    event loop)."""

    auctions: AuctionService
    call_life: CallLife
    sweeper: Sweeper
    key_hygiene: KeyHygiene
    recorder: RecordingWorker
    hasher: CallerHasher
    hot: HotState
    sync: ConfigSync
    redis_async: aioredis.Redis
    redis_sync: redis.Redis
    http: httpx.AsyncClient
    executor: ThreadPoolExecutor
    qualification: QualificationService
    ivr_states: IvrStates
    owns_executor: bool = True  # False: the process's runtime owns the pool

    async def close(self) -> None:
        await self.http.aclose()
        await self.redis_async.aclose()
        self.redis_sync.close()
        if self.owns_executor:
            self.executor.shutdown(wait=True)


def build_exchange(
    settings: Settings,
    domain: Domain,
    *,
    redis_url: str,
    seeds: Callable[[], int] | None = None,
    executor: ThreadPoolExecutor | None = None,
) -> ExchangeRuntime:
    """The exchange's services over Redis; blocking store work goes to `executor` (the
    process runtime's one pool), or to a pool of their own when none is given (tests)."""
    keys = Keys(settings.redis_prefix)
    # bounded: a stopped Redis accepts connections and never answers (a 503, not a hang)
    redis_async = async_client(
        redis_url,
        cluster=settings.redis_cluster,
        max_connections=256,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S,
    )
    redis_sync = sync_client(
        redis_url,
        cluster=settings.redis_cluster,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S,
    )
    hot = HotState(redis_async, keys, replica_ack_ms=settings.redis_replica_ack_ms)
    http = make_client()
    owns_executor = executor is None
    if executor is None:
        executor = ThreadPoolExecutor(max_workers=DOMAIN_THREADS, thread_name_prefix="ppcx-io")
    rng = random.SystemRandom()
    secret = secret_key(settings)
    hasher = CallerHasher(secret)
    auctions = AuctionService(
        hot=hot,
        calls=domain.calls,
        clock=domain.clock,
        hasher=hasher,
        http=http,
        seeds=seeds or (lambda: rng.getrandbits(63)),
        executor=executor,
        limiter=RateLimiter(redis_async, keys, domain.clock),
        rtb_limit=Limit(RTB_SCOPE, settings.rtb_endpoint_rate_per_s, settings.rtb_endpoint_burst),
    )
    return ExchangeRuntime(
        auctions=auctions,
        call_life=CallLife(hot=hot, calls=domain.calls, clock=domain.clock, executor=executor),
        sweeper=Sweeper(hot=hot, calls=domain.calls, clock=domain.clock, executor=executor),
        key_hygiene=KeyHygiene(
            app=domain.app,
            setup=domain.setup,
            redis_client=redis_async,
            keys=keys,
            clock=domain.clock,
            executor=executor,
            warning_days=settings.key_expiry_warning_days,
            unused_expire_days=settings.key_unused_expire_days,
        ),
        recorder=RecordingWorker(
            redis_client=redis_sync,
            keys=keys,
            store=recording_store(settings),
            handlers=domain.recordings,
            api=twilio_api(settings),
            clock=domain.clock,
            executor=executor,
        ),
        hasher=hasher,
        hot=hot,
        sync=ConfigSync(domain.app, redis_sync, keys),
        redis_async=redis_async,
        redis_sync=redis_sync,
        http=http,
        executor=executor,
        qualification=QualificationService(
            app=domain.app,
            auctions=auctions,
            calls=domain.calls,
            hasher=hasher,
            executor=executor,
        ),
        ivr_states=IvrStates(secret),
        owns_executor=owns_executor,
    )
