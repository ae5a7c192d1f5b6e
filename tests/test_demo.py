"""`ppcx-tools demo` end to end in a process of its own: same seed, same books; nothing left running."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ppcx.settings import Settings

pytestmark = pytest.mark.e2e

DEMO_S_MAX = 600  # one 30-call demo: ~12 s on an idle machine, ~25 s under stress-ng --cpu 2


def _demo(settings: Settings, data_dir: Path, seed: int) -> str:
    assert settings.redis_url is not None
    assert settings.nats_url is not None
    env = {
        **os.environ,
        "PPCX_DATA_DIR": str(data_dir),
        "REDIS_URL": settings.redis_url,
        "NATS_URL": settings.nats_url,
        "PPCX_REDIS_PREFIX": settings.redis_prefix,
        # the test's own JetStream stream: nothing another test relays (or signs) reaches it
        "PPCX_NATS_STREAM": settings.nats_stream,
        "PPCX_NATS_SUBJECT_PREFIX": settings.nats_subject_prefix,
        "COLUMNS": "200",
    }
    for name in ("SQLITE_DBNAME", "PPCX_DUCKDB_PATH", "PERSISTENCE_MODULE"):
        env.pop(name, None)
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "ppcx-tools"),
            "demo",
            "--calls",
            "30",
            "--seed",
            str(seed),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_S_MAX,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    return done.stdout


def _books(output: str) -> str:
    found = re.search(r"books: .*", output)
    assert found is not None, output
    return found.group(0)


@pytest.mark.timeout(3 * DEMO_S_MAX)  # three demos: beyond the suite's 300 s per test
def test_same_seed_same_books_and_verification_passes(
    settings: Settings, tmp_path: Path, redis_client: object, nats_stream: str
) -> None:
    first = _demo(settings, tmp_path / "demo", 5)
    for title in (
        "P&L by vertical",
        "P&L by publisher",
        "Attribution by source and keyword",
        "Funnel",
    ):
        assert title in first
    again = _demo(settings, tmp_path / "demo", 5)
    assert _books(first) == _books(again)
    assert re.search(r"revenue \d+\.\d\d", _books(first))
    other = _demo(settings, tmp_path / "other", 6)
    assert _books(other) != _books(first)
    assert (tmp_path / "demo" / "analytics.snapshot.duckdb").exists()


def test_demo_refuses_a_store_it_did_not_create(settings: Settings, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "events.sqlite").write_bytes(b"not the demo's")
    env = {
        **os.environ,
        "PPCX_DATA_DIR": str(data),
        "REDIS_URL": str(settings.redis_url),
        "NATS_URL": str(settings.nats_url),
        "PPCX_REDIS_PREFIX": settings.redis_prefix,
        # the test's own JetStream stream: nothing another test relays (or signs) reaches it
        "PPCX_NATS_STREAM": settings.nats_stream,
        "PPCX_NATS_SUBJECT_PREFIX": settings.nats_subject_prefix,
    }
    env.pop("SQLITE_DBNAME", None)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ppcx-tools"), "demo", "--calls", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "did not create" in done.stderr
    assert (data / "events.sqlite").read_bytes() == b"not the demo's"
