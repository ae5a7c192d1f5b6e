"""A webhook's signing secret is derived, never stored: an HMAC of the deployment's secret, the
webhook's id and its secret version (rotating moves the version on). The log holds nothing a
reader could sign with; the API shows a secret once, when it is made or rotated."""

from __future__ import annotations

import base64
import hashlib
import hmac

PREFIX = "whsec_"  # Standard Webhooks' secret prefix: libraries strip it and base64-decode


def secret_for(deployment_secret: str, webhook_id: str, version: int) -> str:
    key = hashlib.sha256(b"ppcx-webhook-secret\x00" + deployment_secret.encode()).digest()
    raw = hmac.new(key, f"{webhook_id}|{version}".encode(), hashlib.sha256).digest()
    return PREFIX + base64.b64encode(raw).decode()
