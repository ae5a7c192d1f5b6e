"""The FastAPI application: routers per audience, problem+json errors, the request guard.

`build_app` takes a lifespan that provides `ApiServices` (the composition root builds them, so
this package never reads settings or the environment)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI

from api import docs, openapi, problems
from api.middleware import RequestGuard
from api.observability import Observability
from api.responses import OrjsonResponse
from api.routers import (
    admin,
    buyers,
    calls,
    dni,
    exchange,
    finance,
    ops,
    recordings,
    reports,
    setup_changes,
    setup_reads,
    telephony,
    webhooks,
)
from api.services import ApiServices

DESCRIPTION = """
PPCX, a pay-per-call exchange with an event-sourced ledger. Publishers ping and post calls,
buyers bid (standing bids or real-time), telephony reports each call's progress, finance reads
the books, analysts the reports. Authenticate with `Authorization: Bearer <api key>`.
Money is a decimal string (`"45.50"`); times are RFC 3339 UTC; errors are RFC 9457 problem
details; every `POST` takes an `Idempotency-Key`.
"""
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[ApiServices]]


def build_app(
    lifespan: Lifespan,
    *,
    body_bytes_max: int = 64 * 1024,
    idempotency_ttl_s: int = 86400,
    access_log: bool = False,
) -> FastAPI:
    async def run(app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(app) as services:
            app.state.services = services
            yield

    app = FastAPI(
        title="PPCX",
        version="1",
        description=DESCRIPTION,
        default_response_class=OrjsonResponse,
        lifespan=asynccontextmanager(run),
        docs_url=None,  # api.docs serves them from local assets
        redoc_url=None,
        generate_unique_id_function=openapi.operation_id,
    )
    problems.install(app)
    # the hot paths first: a request is matched against the routes in this order, and the
    # set-up routes alone are dozens (measured: ~5% of a ping's CPU when they came first)
    for module in (
        exchange,
        telephony,
        admin,
        setup_changes,
        setup_reads,
        buyers,
        calls,
        recordings,
        finance,
        reports,
        dni,
        ops,
        webhooks,
    ):
        app.include_router(module.router)
    openapi.install(app)
    docs.install(app)

    def idempotency() -> tuple[Any, Callable[[str], str]]:
        services: ApiServices = app.state.services
        return services.hot.redis, services.hot.keys.idempotency

    app.add_middleware(
        RequestGuard,
        body_bytes_max=body_bytes_max,
        idempotency=idempotency,
        ttl_s=idempotency_ttl_s,
    )

    def count(method: str, route: str, status: int, seconds: float) -> None:
        services: ApiServices | None = getattr(app.state, "services", None)
        if services is not None:
            services.metrics.count_request(method, route, status, seconds)

    # outermost: the request id is bound before anything else can log or answer a problem
    app.add_middleware(Observability, count=count, access_log=access_log)
    return app
