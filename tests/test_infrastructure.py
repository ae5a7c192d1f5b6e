"""The test infrastructure itself talks to the real services, isolated per test."""

from __future__ import annotations

import asyncio

import nats
import pytest
import redis
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from ppcx.settings import Settings

pytestmark = pytest.mark.integration


class Note(Aggregate):
    @event("Written")
    def __init__(self, text: str) -> None:
        self.text = text


def test_redis_is_real_and_namespaced(redis_client: redis.Redis, settings: Settings) -> None:
    key = f"{settings.redis_prefix}:probe"
    redis_client.set(key, "1")
    assert redis_client.incr(key) == 2
    info = redis_client.info("server")
    assert "redis_version" in info


def test_jetstream_is_real_with_a_stream_per_test(settings: Settings, nats_stream: str) -> None:
    async def roundtrip() -> bytes:
        assert settings.nats_url is not None
        connection = await nats.connect(settings.nats_url)
        try:
            js = connection.jetstream()
            await js.add_stream(name=nats_stream, subjects=[f"{settings.nats_subject_prefix}.>"])
            ack = await js.publish(f"{settings.nats_subject_prefix}.probe", b"hello")
            assert ack.stream == nats_stream
            message = await js.get_msg(nats_stream, ack.seq)
            return bytes(message.data or b"")
        finally:
            await connection.close()

    assert asyncio.run(roundtrip()) == b"hello"


def _roundtrip(settings: Settings) -> str:
    # a stock application with UUID ids: the store itself, without PPCX on top
    app = Application[object](env={**settings.eventstore_env(), "ORIGINATOR_ID_TYPE": "uuid"})
    try:
        note = Note(text="kept")
        app.save(note)
        assert app.recorder.max_notification_id() == 1
        return str(app.repository.get(note.id).text)
    finally:
        app.close()


def test_sqlite_event_store_is_a_real_file(local_settings: Settings) -> None:
    assert _roundtrip(local_settings) == "kept"
    assert local_settings.resolved_sqlite_path.stat().st_size > 0


@pytest.mark.postgres
def test_postgres_event_store_in_its_own_schema(postgres_settings: Settings) -> None:
    assert postgres_settings.persistence_module == "eventsourcing.postgres"
    assert _roundtrip(postgres_settings) == "kept"


def test_settings_read_the_documented_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PPCX_DATA_DIR", "/tmp/x")
    monkeypatch.setenv("REDIS_URL", "redis://h:1/0")
    monkeypatch.setenv("NATS_URL", "")
    monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.postgres")
    monkeypatch.setenv("POSTGRES_PORT", "6543")
    settings = Settings()
    assert str(settings.resolved_data_dir) == "/tmp/x"
    assert settings.redis_url == "redis://h:1/0"
    assert settings.nats_url is None
    env = settings.eventstore_env()
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert env["POSTGRES_PORT"] == "6543"
    assert settings.resolved_duckdb_path == settings.resolved_data_dir / "analytics.duckdb"
