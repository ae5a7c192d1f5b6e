"""Signed checkpoints of the chain's head (pure format, signature, the data dir's file)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eventstore.checkpoints import (
    Checkpoint,
    checkpoint_key,
    read_file,
    sign,
    valid,
    write_file,
)
from projections.checkpoints import subject_name

AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
KEY = checkpoint_key("audit-secret")
LINK = bytes(range(32))


def test_a_checkpoint_round_trips_and_verifies() -> None:
    made = sign(KEY, 1234, LINK, AT)
    again = Checkpoint.from_json(made.to_json())
    assert again == made
    assert valid(KEY, again)


@pytest.mark.parametrize(
    "forged",
    [
        {"position": 1233},
        {"link": bytes(32)},
        {"at": AT + timedelta(seconds=1)},
    ],
)
def test_a_changed_checkpoint_does_not_verify(forged: dict[str, object]) -> None:
    made = sign(KEY, 1234, LINK, AT)
    fields = {"position": 1234, "link": LINK, "at": AT, "signature": made.signature, **forged}
    assert not valid(KEY, Checkpoint(**fields))  # type: ignore[arg-type]


def test_another_deployments_key_does_not_verify() -> None:
    assert not valid(checkpoint_key("another secret"), sign(KEY, 1, LINK, AT))


@pytest.mark.parametrize(
    "raw",
    [b"", b"{}", b'{"position": 0, "link": "00", "at": "x", "signature": ""}', b"[1, 2]"],
)
def test_garbage_is_not_a_checkpoint(raw: bytes) -> None:
    with pytest.raises(ValueError, match="not a checkpoint"):
        Checkpoint.from_json(raw)


def test_the_file_keeps_the_newest(tmp_path: Path) -> None:
    assert read_file(tmp_path) is None
    write_file(tmp_path, sign(KEY, 10, LINK, AT))
    write_file(tmp_path, sign(KEY, 5, LINK, AT))  # an older one never replaces a newer one
    found = read_file(tmp_path)
    assert found is not None
    assert found.position == 10


def test_checkpoints_are_published_beside_the_events_never_under_them() -> None:
    assert subject_name("ppcx.events") == "ppcx.checkpoints"
    assert not subject_name("t1.events").startswith("t1.events.")
    assert subject_name("events") == "checkpoints"
