"""API keys: shown once at creation, stored only as a keyed hash (HMAC-SHA-256 with the
deployment's secret). A key reads `ppcx_<key id hex>_<secret>`; its id part finds the stored
hash, the comparison is constant-time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

PREFIX = "ppcx"


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    api_key: str
    key_hash: str


class KeyHasher:
    def __init__(self, secret: str) -> None:
        self._secret = hashlib.sha256(b"ppcx-api-key\x00" + secret.encode()).digest()

    def hash(self, api_key: str) -> str:
        return hmac.new(self._secret, api_key.encode(), hashlib.sha256).hexdigest()

    def issue(self) -> IssuedKey:
        hex_id = uuid.uuid4().hex
        api_key = f"{PREFIX}_{hex_id}_{secrets.token_urlsafe(24)}"
        return IssuedKey(f"key_{hex_id}", api_key, self.hash(api_key))

    def matches(self, api_key: str, key_hash: str) -> bool:
        return hmac.compare_digest(self.hash(api_key), key_hash)


def key_id_of(api_key: str) -> str | None:
    """The key id an API key names, or None when it is not a PPCX key."""
    parts = api_key.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 32:
        return None
    try:
        int(parts[1], 16)
    except ValueError:
        return None
    return f"key_{parts[1]}"
