"""The HTTP API's composition: `create_app(settings)` wires the domain, the exchange, DNI,
the projections reader and metrics into `api.app.build_app`, and runs this process's
background loops (config sync into Redis, the expiry sweeper). `ppcx serve` runs it under
uvicorn (`ppcx.roles.api_worker`, one instance per worker process)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor

from fastapi import FastAPI

from api.app import build_app
from api.keys import KeyHasher
from api.metrics import Metrics
from api.services import ApiConfig, ApiServices
from domain.clock import Clock
from exchange.dni import DniLeases
from exchange.keys import Keys
from ppcx import health
from ppcx.bootstrap import build_domain, build_exchange
from ppcx.secrets import secret_key
from ppcx.settings import Settings
from ppcx.tuning import settle_garbage_collector
from projections.readers import SnapshotReader

logger = logging.getLogger(__name__)
SYNC_INTERVAL_S = 0.25
SWEEP_INTERVAL_S = 1.0
PROCESS_SAMPLE_INTERVAL_S = 5.0
API_THREADS = 32


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    seeds: Callable[[], int] | None = None,
    background_sweep: bool = True,
) -> FastAPI:
    """The API for `settings`; Redis and NATS must be configured (`ppcx serve` starts the
    embedded ones and sets them). Without `background_sweep`, expired reservations are
    released only by `POST /v1/ops/sweep` (the demo sweeps at fixed points, so a seed gives
    the same books whatever the machine's speed)."""
    if not settings.redis_url or not settings.nats_url:
        raise RuntimeError("create_app needs REDIS_URL and NATS_URL (ppcx serve sets them)")
    redis_url, nats_url = settings.redis_url, settings.nats_url
    config = ApiConfig(
        twilio_auth_token=settings.twilio_auth_token,
        public_base_url=settings.public_base_url,
        bootstrap_admin_key=settings.bootstrap_admin_key,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[ApiServices]:
        metrics = Metrics(multiprocess_dir=settings.prometheus_multiproc_dir)
        domain = build_domain(settings, clock=clock, group_commit=True, on_commit=metrics.on_commit)
        runtime = build_exchange(settings, domain, redis_url=redis_url, seeds=seeds)
        sync_lock = threading.Lock()

        def sync_config() -> int:
            with sync_lock:
                return runtime.sync.catch_up()

        async def readiness() -> dict[str, str]:
            return await health.readiness(
                app=domain.app,
                ping_redis=runtime.hot.redis.ping,
                nats_url=nats_url,
                reports=services.reports,
                clock=domain.clock,
                in_thread=services.call,
            )

        executor = ThreadPoolExecutor(max_workers=API_THREADS, thread_name_prefix="ppcx-api")
        services = ApiServices(
            app=domain.app,
            setup=domain.setup,
            calls=domain.calls,
            auctions=runtime.auctions,
            call_life=runtime.call_life,
            sweeper=runtime.sweeper,
            hot=runtime.hot,
            dni=DniLeases(runtime.redis_async, Keys(settings.redis_prefix)),
            reports=SnapshotReader(settings.resolved_duckdb_path),
            keys=KeyHasher(secret_key(settings)),
            callers=runtime.hasher,
            clock=domain.clock,
            config=config,
            metrics=metrics,
            executor=executor,
            sync_config=sync_config,
            readiness=readiness,
        )
        await services.call(sync_config)
        settle_garbage_collector()
        stop = asyncio.Event()

        async def sample() -> None:
            metrics.sample_process()

        loops = [
            asyncio.create_task(
                _every(SYNC_INTERVAL_S, stop, lambda: services.call(sync_config), "sync")
            ),
            asyncio.create_task(_every(PROCESS_SAMPLE_INTERVAL_S, stop, sample, "metrics")),
        ]
        if background_sweep:
            loops.append(
                asyncio.create_task(_every(SWEEP_INTERVAL_S, stop, runtime.sweeper.sweep, "sweep"))
            )
        try:
            yield services
        finally:
            stop.set()
            await asyncio.gather(*loops, return_exceptions=True)
            await runtime.close()
            executor.shutdown(wait=True)
            services.reports.close()
            domain.close()

    return build_app(lifespan, access_log=settings.access_log)


async def _every(interval_s: float, stop: asyncio.Event, work: object, name: str) -> None:
    """Run `work` every interval until stopped; a failure is logged and retried next tick."""
    while not stop.is_set():
        try:
            await work()  # type: ignore[operator]
        except Exception:
            logger.exception("background %s failed; retrying", name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
