"""Twilio's webhook signature (X-Twilio-Signature) and the TwiML PPCX answers with.

The signature is HMAC-SHA1, keyed with the account's auth token, over the full URL Twilio
called followed by every POST parameter as name+value in name order, base64-encoded."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from xml.sax.saxutils import escape, quoteattr


def signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    data = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def valid(auth_token: str, url: str, params: Mapping[str, str], received: str | None) -> bool:
    if not received:
        return False
    return hmac.compare_digest(signature(auth_token, url, params), received)


def dial(destination: str, *, action: str, answered_callback: str, timeout_s: int = 20) -> str:
    """Connect the caller to `destination` (a number or a SIP URI); Twilio calls `action`
    when the dialled leg ends (its answer can dial the next buyer) and `answered_callback`
    when the buyer picks up."""
    noun = "Sip" if destination.startswith(("sip:", "sips:")) else "Number"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<Response><Dial action={quoteattr(action)} method="POST" timeout="{timeout_s}">'
        f'<{noun} statusCallbackEvent="answered" statusCallback={quoteattr(answered_callback)}'
        f' statusCallbackMethod="POST">{escape(destination)}</{noun}></Dial></Response>'
    )


def reject(message: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Say>{escape(message)}</Say><Hangup/></Response>"
    )


def hangup() -> str:
    return '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'


def empty() -> str:
    """Acknowledge a callback without instructions."""
    return '<?xml version="1.0" encoding="UTF-8"?><Response/>'
