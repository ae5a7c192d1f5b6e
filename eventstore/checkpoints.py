"""Signed checkpoints of the chain's head, kept outside the store.

The audit chain (`eventstore.chain`) catches an edited, inserted or reordered event, but
events deleted from the *end* of the log leave no broken link behind. So the relay, which
reads the whole log as it publishes it, writes a checkpoint — the position it reached and the
stored link there — at a fixed interval to places the store's own files do not hold: the
JetStream stream `<stream>_CHECKPOINTS` and `<data dir>/checkpoint.json`. `ppcx replay verify`
checks the log against the newest checkpoint it can find: the log must still reach that
position with that link.

A checkpoint is signed (HMAC-SHA-256 with a key derived from the deployment's audit key), so
one cannot be forged or moved back by someone who can write the file but does not hold the
key; a checkpoint whose signature does not verify is itself evidence of tampering.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson

from domain.clock import require_utc
from eventstore.chain import DIGEST_SIZE

FILE_NAME = "checkpoint.json"
_KEY_LABEL = b"ppcx-checkpoint\x00"


def checkpoint_key(audit_secret: str) -> bytes:
    """The signing key, derived from the audit secret (not the chain's own key)."""
    return hashlib.sha256(_KEY_LABEL + audit_secret.encode()).digest()


@dataclass(frozen=True)
class Checkpoint:
    position: int  # a notification id the log reached
    link: bytes  # the stored chain link at that position
    at: datetime  # when it was taken (UTC)
    signature: bytes

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "position": self.position,
                "link": self.link.hex(),
                "at": self.at.isoformat(),
                "signature": self.signature.hex(),
            }
        )

    @classmethod
    def from_json(cls, raw: bytes) -> Checkpoint:
        """A checkpoint as written (ValueError when it is not one; the signature is not
        checked here: `valid` does)."""
        try:
            data = orjson.loads(raw)
            checkpoint = cls(
                position=int(data["position"]),
                link=bytes.fromhex(data["link"]),
                at=require_utc(datetime.fromisoformat(data["at"])),
                signature=bytes.fromhex(data["signature"]),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a checkpoint: {error}") from None
        if checkpoint.position < 1 or len(checkpoint.link) != DIGEST_SIZE:
            raise ValueError("not a checkpoint: position or link out of range")
        return checkpoint


def _message(position: int, link: bytes, at: datetime) -> bytes:
    return b"|".join((str(position).encode(), link.hex().encode(), at.isoformat().encode()))


def sign(key: bytes, position: int, link: bytes, at: datetime) -> Checkpoint:
    at = require_utc(at)
    signature = hmac.new(key, _message(position, link, at), hashlib.sha256).digest()
    return Checkpoint(position, link, at, signature)


def valid(key: bytes, checkpoint: Checkpoint) -> bool:
    expected = hmac.new(
        key, _message(checkpoint.position, checkpoint.link, checkpoint.at), hashlib.sha256
    ).digest()
    return hmac.compare_digest(expected, checkpoint.signature)


def write_file(data_dir: Path, checkpoint: Checkpoint) -> None:
    """Replace the data dir's checkpoint atomically and durably (a newer one only)."""
    path = data_dir / FILE_NAME
    current = read_file(data_dir)
    if current is not None and current.position > checkpoint.position:
        return
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as handle:
        handle.write(checkpoint.to_json())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_file(data_dir: Path) -> Checkpoint | None:
    """The data dir's checkpoint; None when there is none (ValueError when it is garbled)."""
    try:
        raw = (data_dir / FILE_NAME).read_bytes()
    except FileNotFoundError:
        return None
    return Checkpoint.from_json(raw)
