"""The tamper-evident chain over the event log (pure; the recorder and replay both use it).

Every stored event gets a link `d_n = BLAKE2b-256(key; d_{n-1} ‖ n ‖ originator_id ‖ 0 ‖
version ‖ topic ‖ 0 ‖ state)` written in the same transaction as the event, in notification
order (`d_0` is 32 zero bytes; n and version are 8-byte big-endian). The key is the
deployment's audit key, so a link cannot be recomputed by someone who can edit the database
but does not hold the key. Replay checks each stored link against its stored predecessor, so an
edited, inserted, deleted or reordered event breaks the link at its own position (a deletion
breaks the link of the event after it).
"""

from __future__ import annotations

import hashlib

GENESIS = bytes(32)
DIGEST_SIZE = 32


def chain_key(secret: str) -> bytes:
    """The BLAKE2b key (at most 64 bytes) derived from the configured audit secret."""
    return hashlib.sha256(b"ppcx-audit-chain\x00" + secret.encode()).digest()


class ChainHasher:
    """Computes links; the keyed state is prepared once and copied per link (cheaper than
    re-keying BLAKE2b for every event)."""

    def __init__(self, key: bytes) -> None:
        self._keyed = hashlib.blake2b(key=key, digest_size=DIGEST_SIZE)

    def link(
        self,
        previous: bytes,
        notification_id: int,
        originator_id: str,
        originator_version: int,
        topic: str,
        state: bytes,
    ) -> bytes:
        h = self._keyed.copy()
        h.update(
            b"".join(
                (
                    previous,
                    notification_id.to_bytes(8, "big"),
                    originator_id.encode(),
                    b"\x00",
                    originator_version.to_bytes(8, "big"),
                    topic.encode(),
                    b"\x00",
                    state,
                )
            )
        )
        return h.digest()


def link_digest(
    key: bytes,
    previous: bytes,
    notification_id: int,
    originator_id: str,
    originator_version: int,
    topic: str,
    state: bytes,
) -> bytes:
    """One link, from scratch (tests and one-off checks; hot loops keep a ChainHasher)."""
    return ChainHasher(key).link(
        previous, notification_id, originator_id, originator_version, topic, state
    )
