"""Caller numbers are kept only as keyed hashes (HMAC-SHA-256 with the deployment's secret),
so duplicates and blocks can be matched without storing, logging or sending the number."""

from __future__ import annotations

import hashlib
import hmac
import secrets


class CallerHasher:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"ppcx-caller\x00" + secret.encode()).digest()

    def __call__(self, e164: str) -> str:
        return hmac.new(self._key, e164.encode(), hashlib.sha256).hexdigest()[:32]

    @staticmethod
    def anonymous() -> str:
        """A hash for a caller whose number is withheld: it matches nobody."""
        return "anon" + secrets.token_hex(14)
