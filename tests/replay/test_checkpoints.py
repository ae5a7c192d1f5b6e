"""Deleting the newest events of the log is caught by `replay verify` through the signed
checkpoints the relay writes outside the store (the data dir's file and JetStream), with
real NATS and SQLite."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.clock import ManualClock
from eventstore.checkpoints import FILE_NAME, checkpoint_key, sign, write_file
from ppcx.bootstrap import Domain, ExchangeRuntime
from ppcx.settings import Settings
from tests.replay.conftest import drive, market

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def _env(settings: Settings) -> dict[str, str]:
    return {
        "PPCX_DATA_DIR": str(settings.data_dir),
        "SQLITE_DBNAME": str(settings.sqlite_dbname),
        "PPCX_AUDIT_KEY": str(settings.audit_key),
        "PPCX_SECRET_KEY": str(settings.secret_key),
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "REDIS_URL": str(settings.redis_url),
        "NATS_URL": str(settings.nats_url),
        "PPCX_NATS_STREAM": settings.nats_stream,
        "PPCX_NATS_SUBJECT_PREFIX": settings.nats_subject_prefix,
        "PPCX_REDIS_PREFIX": settings.redis_prefix,
    }


def _ppcx(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real command, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "ppcx.cli", *args],
        env={**os.environ, **env, "COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _cut_tail(settings: Settings, keep: int) -> None:
    """What an intruder with write access to the database does: delete the newest events,
    back to a point where the books were whole (so nothing but the length is wrong)."""
    with sqlite3.connect(str(settings.sqlite_dbname)) as connection:
        connection.execute("DELETE FROM stored_events WHERE rowid > ?", (keep,))


async def test_a_cut_tail_fails_verify_against_the_relays_checkpoint(
    domain: Domain,
    runtime: ExchangeRuntime,
    clock: ManualClock,
    settings: Settings,
    nats_stream: str,
) -> None:
    m = market(domain, runtime)
    await drive(domain, runtime, clock, m, 6, seed=3)
    consistent = domain.app.store.head()  # every call so far has ended: a clean cut point
    await drive(domain, runtime, clock, m, 4, seed=5)
    env = _env(settings)
    relayed = _ppcx(["relay"], env)
    assert relayed.returncode == 0, relayed.stdout + relayed.stderr
    assert "1 checkpoints" in relayed.stdout
    assert (Path(settings.data_dir) / FILE_NAME).exists()

    intact = _ppcx(["replay", "verify"], env)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "checked against the checkpoint from" in (intact.stdout + intact.stderr)

    _cut_tail(settings, consistent)
    # the chain alone cannot see it: the links that are left are all intact
    unchecked = _ppcx(["replay", "verify", "--no-checkpoints"], env)
    assert unchecked.returncode == 0, unchecked.stdout + unchecked.stderr
    cut = _ppcx(["replay", "verify"], env)
    assert cut.returncode == 1, cut.stdout + cut.stderr
    assert "FAILED" in (cut.stdout + cut.stderr)
    # with the file gone, JetStream's copy still catches it
    (Path(settings.data_dir) / FILE_NAME).unlink()
    from_stream = _ppcx(["replay", "verify"], env)
    assert from_stream.returncode == 1, from_stream.stdout + from_stream.stderr
    assert "checkpoint from jetstream" in (from_stream.stdout + from_stream.stderr)


async def test_a_checkpoint_not_signed_by_the_deployment_fails_verify(
    domain: Domain,
    runtime: ExchangeRuntime,
    clock: ManualClock,
    local_settings: Settings,
    settings: Settings,
) -> None:
    m = market(domain, runtime)
    await drive(domain, runtime, clock, m, 3, seed=4)
    forged = sign(checkpoint_key("not the audit key"), 1, bytes(32), datetime.now(UTC))
    write_file(Path(settings.data_dir), forged)
    env = {**_env(settings), "NATS_URL": "nats://127.0.0.1:9"}  # nothing answers there
    result = _ppcx(["replay", "verify"], env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "not signed with this deployment's key" in (result.stdout + result.stderr)
