"""The HTTP API's composition: `create_app(settings)` wires the domain, the exchange, DNI,
the projections reader and metrics into `api.app.build_app`, and runs this process's
background loops (config sync into Redis, the expiry sweeper). `ppcx serve` runs it under
uvicorn (`ppcx.roles.api_worker`, one instance per worker process)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI

from api.app import build_app
from api.key_usage import KeyUsage
from api.metrics import Metrics
from api.services import ApiConfig, ApiServices
from domain.clock import Clock
from eventstore.audits import FILE_NAME as AUDITS_FILE
from eventstore.chain import chain_key
from eventstore.deliveries import FILE_NAME as DELIVERIES_FILE
from eventstore.deliveries import DeliveryStore
from evidence.transcripts import TranscriptStore
from exchange.dni import DniLeases
from exchange.keys import Keys
from portal import app as portal
from portal.audits import AuditConfig
from ppcx import health
from ppcx.bootstrap import recording_store
from ppcx.runtime import build_runtime
from ppcx.secrets import audit_key, secret_key
from ppcx.settings import Settings
from ppcx.tuning import settle_garbage_collector
from projections.readers import SnapshotReader
from webhooks.outbound import parse_networks

logger = logging.getLogger(__name__)
SYNC_INTERVAL_S = 0.25
SWEEP_INTERVAL_S = 1.0
PROCESS_SAMPLE_INTERVAL_S = 5.0


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
    nats_url = settings.nats_url
    config = ApiConfig(
        twilio_auth_token=settings.twilio_auth_token,
        public_base_url=settings.public_base_url,
        bootstrap_admin_key=settings.bootstrap_admin_key,
        key_expiry_warning_days=settings.key_expiry_warning_days,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[ApiServices]:
        metrics = Metrics(multiprocess_dir=settings.prometheus_multiproc_dir)
        runtime = build_runtime(settings, clock=clock, seeds=seeds, on_commit=metrics.on_commit)
        domain, exchange = runtime.domain, runtime.exchange

        async def readiness() -> dict[str, Any]:
            return await health.readiness(
                app=domain.app,
                ping_redis=exchange.hot.redis.ping,
                nats_url=nats_url,
                reports=services.reports,
                clock=domain.clock,
                in_thread=runtime.call,
            )

        services = ApiServices(
            app=domain.app,
            setup=domain.setup,
            users=domain.users,
            saved_queries=domain.saved_queries,
            webhooks=domain.webhooks,
            calls=domain.calls,
            auctions=exchange.auctions,
            call_life=exchange.call_life,
            sweeper=exchange.sweeper,
            hot=exchange.hot,
            dni=DniLeases(exchange.redis_async, Keys(settings.redis_prefix)),
            reports=SnapshotReader(settings.resolved_duckdb_path),
            keys=runtime.keys,
            callers=exchange.hasher,
            clock=domain.clock,
            config=config,
            metrics=metrics,
            executor=runtime.executor,
            sync_config=runtime.sync_config,
            readiness=readiness,
            deliveries=DeliveryStore(settings.resolved_data_dir / DELIVERIES_FILE),
            webhook_networks=parse_networks(settings.webhook_allowed_networks),
            key_usage=KeyUsage(exchange.redis_async, Keys(settings.redis_prefix), domain.clock),
            key_hygiene=exchange.key_hygiene,
            qualification=exchange.qualification,
            ivr_states=exchange.ivr_states,
            recorder=exchange.recorder,
            transcripts=TranscriptStore(settings.resolved_transcripts_dir),
        )
        exchange.key_hygiene.forget = services.known_keys.forget  # refused here at once
        await runtime.start()
        settle_garbage_collector()
        stop = asyncio.Event()

        async def sample() -> None:
            metrics.sample_process()

        loops = [
            asyncio.create_task(_every(SYNC_INTERVAL_S, stop, runtime.tick, "sync")),
            asyncio.create_task(_every(PROCESS_SAMPLE_INTERVAL_S, stop, sample, "metrics")),
        ]
        if background_sweep:
            loops.append(
                asyncio.create_task(_every(SWEEP_INTERVAL_S, stop, exchange.sweeper.sweep, "sweep"))
            )
            hygiene = exchange.key_hygiene.tick_if_due
            loops.append(
                asyncio.create_task(_every(SWEEP_INTERVAL_S, stop, hygiene, "key hygiene"))
            )
            recorder = exchange.recorder.tick
            loops.append(
                asyncio.create_task(_every(SWEEP_INTERVAL_S, stop, recorder, "recordings"))
            )
        try:
            yield services
        finally:
            stop.set()
            await asyncio.gather(*loops, return_exceptions=True)
            services.reports.close()
            services.deliveries.close()
            await runtime.close()

    app = build_app(lifespan, access_log=settings.access_log)
    portal.install(
        app,
        secret=secret_key(settings),
        public_base_url=settings.public_base_url,
        redis_prefix=settings.redis_prefix,
        audits_config=AuditConfig(
            settings.resolved_data_dir / AUDITS_FILE,
            chain_key(audit_key(settings)),
            recordings=recording_store(settings),
        ),
    )
    return app


async def _every(interval_s: float, stop: asyncio.Event, work: object, name: str) -> None:
    """Run `work` every interval until stopped; a failure is logged and retried next tick."""
    while not stop.is_set():
        try:
            await work()  # type: ignore[operator]
        except Exception:
            logger.exception("background %s failed; retrying", name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
