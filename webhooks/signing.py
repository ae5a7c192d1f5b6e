"""The headers of a signed POST webhook, as the Standard Webhooks specification names them,
signed by the reference library itself so that any receiver's library verifies them."""

from __future__ import annotations

from datetime import UTC, datetime
from math import floor

from standardwebhooks.webhooks import Webhook

from domain.invariant import invariant

CONTENT_TYPE = "application/json"


def signed(secret: str, msg_id: str, at: datetime, body: bytes) -> dict[str, str]:
    """`webhook-id`, `webhook-timestamp` (whole seconds) and `webhook-signature`
    (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`) for `body` sent at `at`."""
    invariant(at.tzinfo is not None, "a webhook is signed at an aware time")
    # the library reads the time's fields as UTC (it replaces the zone): give it UTC
    at_utc = at.astimezone(UTC)
    signature = Webhook(secret).sign(msg_id, at_utc, body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(floor(at_utc.timestamp())),
        "webhook-signature": signature,
        "content-type": CONTENT_TYPE,
    }
