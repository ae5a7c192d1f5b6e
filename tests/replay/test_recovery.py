"""The state's generation and the restarted-server watch, against the real Redis."""

from __future__ import annotations

import orjson
import pytest
import redis

from exchange.keys import Keys
from ppcx.bootstrap import build_application
from ppcx.settings import Settings
from replay import recovery
from tests.support.clock import START

pytestmark = pytest.mark.integration


def test_a_new_namespace_over_an_empty_log_is_established_not_rebuilt(
    settings: Settings, redis_client: redis.Redis
) -> None:
    app = build_application(settings)
    try:
        keys = Keys(settings.redis_prefix)
        assert recovery.ensure(app, redis_client, settings.redis_prefix, START) == "established"
        assert recovery.ensure(app, redis_client, settings.redis_prefix, START) == "present"
        found = recovery.read_generation(redis_client, keys)
        assert found is not None
        assert found.run_id == redis_client.info("server")["run_id"]
    finally:
        app.close()


def test_a_server_restarted_under_the_state_is_a_loss_unless_it_kept_every_write(
    settings: Settings, redis_client: redis.Redis
) -> None:
    keys = Keys(settings.redis_prefix)
    assert recovery.watch(redis_client, settings.redis_prefix)  # no generation: lost
    # the generation says it was built on another server (a restart since)
    redis_client.set(keys.generation(), orjson.dumps({"id": "g1", "run_id": "another"}))
    lost = recovery.watch(redis_client, settings.redis_prefix)
    kept_every_write = bool(redis_client.info("persistence")["aof_enabled"])
    assert lost is not kept_every_write
    if kept_every_write:  # the append-only file kept the state: it is adopted as is
        found = recovery.read_generation(redis_client, keys)
        assert found is not None
        assert found.id == "g1"
        assert not recovery.watch(redis_client, settings.redis_prefix)
