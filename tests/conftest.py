"""Shared fixtures: real services only.

* `local_settings`: a test's own data dir, SQLite file, DuckDB file and secrets — and no Redis
  or NATS. `settings` adds the service endpoints: a test that never talks to Redis or NATS asks
  for `local_settings` and so never starts them.
* `clock`: one ManualClock at `tests.support.clock.START`.

* Redis and NATS: the URLs in `REDIS_URL` / `NATS_URL` when given (e.g. the machine's own 6379
  and 4222), otherwise real embedded servers started once for the test session by the same
  runner `ppcx` uses, and stopped when the session ends.
* Redis isolation: each test gets its own key prefix and its keys are deleted afterwards.
* NATS isolation: each test gets its own JetStream stream and subject prefix.
* SQLite: a temporary event-store file per test.
* PostgreSQL: the server in `POSTGRES_HOST`/`POSTGRES_PORT` (default 127.0.0.1:5432), a
  database `ppcx_test` created on first use, and a schema of its own per test. An unreachable
  PostgreSQL fails the test (in CI and elsewhere); deselect with `-m "not postgres"` on a
  machine that has none.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import psycopg
import pytest
import redis

from domain.clock import ManualClock
from ppcx.services import Endpoints, ServiceRunner, drop_redis_keys
from ppcx.settings import Settings
from tests.support.clock import START

POSTGRES_TEST_DB = "ppcx_test"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs the PostgreSQL server")
    # Hypothesis judges no example by its run time (its default fails one slower than 200 ms,
    # and data generation it finds slow): a loaded machine must not fail a property.
    hypothesis.settings.register_profile(
        "ppcx", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
    )
    hypothesis.settings.load_profile("ppcx")


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    """Settings from the environment the suite runs in (service URLs, PostgreSQL address)."""
    return Settings()


@pytest.fixture(scope="session")
def endpoints(
    base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Endpoints]:
    """Real Redis and NATS for the whole session: configured URLs or embedded servers."""
    if base_settings.redis_url and base_settings.nats_url:
        yield Endpoints(redis_url=base_settings.redis_url, nats_url=base_settings.nats_url)
        return
    data_dir = tmp_path_factory.mktemp("services")
    runner = ServiceRunner(base_settings.model_copy(update={"data_dir": data_dir}))
    with runner.session() as session_endpoints:
        yield session_endpoints


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def local_settings(base_settings: Settings, tmp_path: Path, unique: str) -> Settings:
    """Settings for one test without Redis or NATS: its own data dir, SQLite file, DuckDB file
    and secrets (and the Redis prefix and NATS stream `settings` would use)."""
    return base_settings.model_copy(
        update={
            "data_dir": tmp_path / "data",
            "redis_url": None,
            "nats_url": None,
            "redis_prefix": f"t{unique}",
            "nats_stream": f"T{unique.upper()}",
            "nats_subject_prefix": f"t{unique}.events",
            "persistence_module": "eventsourcing.sqlite",
            "sqlite_dbname": str(tmp_path / "events.sqlite"),
            "duckdb_path": tmp_path / "analytics.duckdb",
            "secret_key": "test-secret-" + unique,
            "audit_key": "test-audit-" + unique,
        }
    )


@pytest.fixture
def settings(local_settings: Settings, endpoints: Endpoints) -> Settings:
    """`local_settings` with the real Redis and NATS: this test's key prefix and stream."""
    return local_settings.model_copy(
        update={"redis_url": endpoints.redis_url, "nats_url": endpoints.nats_url}
    )


@pytest.fixture
def redis_client(settings: Settings) -> Iterator[redis.Redis]:
    """A client on the real Redis; every key under this test's prefix is deleted afterwards."""
    assert settings.redis_url is not None
    client = redis.Redis.from_url(settings.redis_url)
    try:
        yield client
    finally:
        client.close()
        drop_redis_keys(
            settings.redis_url, f"{settings.redis_prefix}*", cluster=settings.redis_cluster
        )


@pytest.fixture
def nats_stream(settings: Settings) -> Iterator[str]:
    """This test's JetStream stream name; the stream is deleted afterwards."""
    yield settings.nats_stream

    async def delete() -> None:
        import nats
        from nats.js.errors import NotFoundError

        assert settings.nats_url is not None
        connection = await nats.connect(settings.nats_url)
        try:
            await connection.jetstream().delete_stream(settings.nats_stream)
        except NotFoundError:
            pass
        finally:
            await connection.close()

    asyncio.run(delete())


def _postgres_conninfo(settings: Settings, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(
        host=settings.postgres_host,
        port=settings.postgres_port,
        user=settings.postgres_user,
        password=settings.postgres_password,
        dbname=dbname,
        connect_timeout=5,
    )


@pytest.fixture(scope="session")
def postgres_database(base_settings: Settings) -> str:
    """The test database on the real PostgreSQL, created when missing."""
    try:
        with psycopg.connect(
            _postgres_conninfo(base_settings, "postgres"), autocommit=True
        ) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (POSTGRES_TEST_DB,)
            ).fetchone()
            if not exists:
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    connection.execute(f'CREATE DATABASE "{POSTGRES_TEST_DB}"')
    except psycopg.OperationalError as error:
        where = f"{base_settings.postgres_host}:{base_settings.postgres_port}"
        ci = " (CI=true: a missing service is a failure)" if os.environ.get("CI") else ""
        pytest.fail(f"PostgreSQL unreachable at {where}{ci}: {error}")
    return POSTGRES_TEST_DB


@pytest.fixture
def postgres_settings(
    local_settings: Settings, postgres_database: str, unique: str
) -> Iterator[Settings]:
    """`local_settings` whose event store is a fresh schema on the real PostgreSQL."""
    schema = f"t_{unique}"
    conninfo = _postgres_conninfo(local_settings, postgres_database)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield local_settings.model_copy(
            update={
                "persistence_module": "eventsourcing.postgres",
                "postgres_dbname": postgres_database,
                "postgres_schema": schema,
            }
        )
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
