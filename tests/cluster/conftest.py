"""A rig of PPCX hosts on this test's PostgreSQL schema, sharing the session's Redis and NATS
under a prefix and stream of the test's own (deleted afterwards)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from ppcx.services import Endpoints, drop_redis_keys
from ppcx.settings import Settings
from projections.checkpoints import stream_name
from tools.cluster.hosts import Hosts, Postgres, hosts


def _delete_streams(nats_url: str, streams: list[str]) -> None:
    async def delete() -> None:
        import nats
        from nats.js.errors import NotFoundError

        connection = await nats.connect(nats_url)
        try:
            for stream in streams:
                with contextlib.suppress(NotFoundError):
                    await connection.jetstream().delete_stream(stream)
        finally:
            await connection.close()

    asyncio.run(delete())


@pytest.fixture
def two_hosts(
    postgres_settings: Settings, endpoints: Endpoints, tmp_path: Path, unique: str
) -> Iterator[Hosts]:
    name = f"c{unique}"
    postgres = Postgres(
        dbname=postgres_settings.postgres_dbname,
        schema=postgres_settings.postgres_schema,
        host=postgres_settings.postgres_host,
        port=postgres_settings.postgres_port,
        user=postgres_settings.postgres_user,
        password=postgres_settings.postgres_password,
    )
    try:
        with hosts(
            tmp_path / "rig",
            count=2,
            redis_url=endpoints.redis_url,
            nats_url=endpoints.nats_url,
            postgres=postgres,
            name=name,
            extra={"PPCX_CHECKPOINT_INTERVAL_S": "2"},
        ) as rig:
            yield rig
    finally:
        drop_redis_keys(endpoints.redis_url, f"{name}*")
        _delete_streams(endpoints.nats_url, [name.upper(), stream_name(name.upper())])
