"""The HTTP benchmark's baseline: a bare FastAPI endpoint doing one Redis call, served the
same way as the API (uvicorn, same workers), so the ratio shows what PPCX's ping costs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from fastapi import FastAPI, Request


def create() -> FastAPI:
    url = os.environ["REDIS_URL"]  # set by the benchmark that starts this server

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.redis = aioredis.Redis.from_url(url)
        yield
        await app.state.redis.aclose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/pings")
    async def ping(request: Request) -> dict[str, object]:
        body = await request.json()
        count = await request.app.state.redis.incr("ppcx-bench:bare")
        return {"ping_id": str(count), "accepted": True, "campaign_id": body.get("campaign_id")}

    return app
