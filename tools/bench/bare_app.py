"""The HTTP benchmark's baseline: a bare FastAPI endpoint doing one Redis call, served the
same way as the API (`ppcx.workers`: uvicorn, a process per worker on its own SO_REUSEPORT
socket), so the ratio shows what PPCX's ping costs.

`python -m tools.bench.bare_app --port P --workers N` serves it until SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from fastapi import FastAPI, Request

from ppcx.workers import run_workers


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    options = {"access_log": False, "log_level": "warning", "log_config": None}
    return run_workers("tools.bench.bare_app:create", "127.0.0.1", args.port, args.workers, options)


if __name__ == "__main__":
    sys.exit(main())
