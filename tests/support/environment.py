"""The environment a `ppcx` command needs to act on a test's own store, Redis prefix and
NATS stream (for the CLI under CliRunner, or a `ppcx` process)."""

from __future__ import annotations

import os

from ppcx.settings import Settings


def ppcx_env(settings: Settings) -> dict[str, str]:
    assert settings.redis_url is not None
    assert settings.nats_url is not None
    env = {
        **os.environ,
        "PPCX_DATA_DIR": str(settings.data_dir),
        "REDIS_URL": settings.redis_url,
        "NATS_URL": settings.nats_url,
        "PPCX_REDIS_PREFIX": settings.redis_prefix,
        "PPCX_REDIS_CLUSTER": "true" if settings.redis_cluster else "false",
        # the test's own JetStream stream: nothing another test relays (or signs) reaches it
        "PPCX_NATS_STREAM": settings.nats_stream,
        "PPCX_NATS_SUBJECT_PREFIX": settings.nats_subject_prefix,
        "SQLITE_DBNAME": str(settings.sqlite_dbname),
        "PPCX_SECRET_KEY": str(settings.secret_key),
        "PPCX_AUDIT_KEY": str(settings.audit_key),
    }
    env.pop("PPCX_BOOTSTRAP_ADMIN_KEY", None)
    return env
