"""Twilio's webhook signature (X-Twilio-Signature) and the TwiML PPCX answers with, both through
Twilio's own library.

`RequestValidator` checks the signature as Twilio computes it: HMAC-SHA1 keyed with the
account's auth token over the URL Twilio called (with and without its default port: Twilio
signs either form) followed by the POST parameters in name order; for a JSON body, Twilio
puts the body's SHA-256 in the URL's `bodySHA256` parameter and signs the URL alone, and the
validator checks the hash against the raw body. `VoiceResponse` writes the TwiML."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

BODY_HASH_PARAM = "bodySHA256"  # the URL parameter of a JSON-bodied webhook's body hash
DIAL_TIMEOUT_S = 20  # how long the buyer's phone rings before the dial's action is called


def signs_body(url: str) -> bool:
    """Twilio signed the URL alone and put the raw body's SHA-256 in it (JSON webhooks)."""
    return BODY_HASH_PARAM in parse_qs(urlsplit(url).query)


def valid(auth_token: str, url: str, params: Mapping[str, str] | str, received: str | None) -> bool:
    """Whether `received` is Twilio's signature of this request: `params` are the form's
    parameters, or the raw body (text) when `signs_body(url)`."""
    if not received:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, received))


def _xml(response: Any) -> str:
    return str(response.to_xml(xml_declaration=True))


@dataclass(frozen=True)
class Recorded:
    """A dial that records (issue 24): `disclosure` is said to the caller first; Twilio
    posts the finished recording's status to `status_callback`."""

    disclosure: str | None  # None: said before (a failover's dial records without it)
    status_callback: str


RECORD_MODE = "record-from-answer-dual"  # caller and agent on two channels, from the answer


def dial(
    destination: str,
    *,
    action: str,
    answered_callback: str,
    timeout_s: int = DIAL_TIMEOUT_S,
    recorded: Recorded | None = None,
    whisper_url: str | None = None,
) -> str:
    """Connect the caller to `destination` (a number or a SIP URI); Twilio calls `action`
    when the dialled leg ends (its answer can dial the next buyer) and `answered_callback`
    when the buyer picks up. With `recorded`, the disclosure is said before the dial and the
    dial records; with `whisper_url`, Twilio plays that URL's TwiML to the buyer's agent
    before connecting (the whisper)."""
    response = VoiceResponse()
    recording: dict[str, str] = {}
    if recorded is not None:
        if recorded.disclosure:
            response.say(recorded.disclosure)
        recording = {
            "record": RECORD_MODE,
            "recording_status_callback": recorded.status_callback,
            "recording_status_callback_event": "completed",
            "recording_status_callback_method": "POST",
        }
    verb = response.dial(action=action, method="POST", timeout=timeout_s, **recording)
    noun = verb.sip if destination.startswith(("sip:", "sips:")) else verb.number
    screening = {"url": whisper_url, "method": "POST"} if whisper_url else {}
    noun(
        destination,
        status_callback_event="answered",
        status_callback=answered_callback,
        status_callback_method="POST",
        **screening,
    )
    return _xml(response)


def gather(
    prompt: str, *, speech: bool, action: str, timeout_s: int, digits_max: int | None
) -> str:
    """Ask one question: say `prompt` and collect keypad digits (at most `digits_max`, or
    until #) or speech; Twilio posts the answer (`Digits`, `SpeechResult`) to `action`, and
    posts there with no answer too when the caller stays silent for `timeout_s`."""
    response = VoiceResponse()
    verb = response.gather(
        input="speech" if speech else "dtmf",
        action=action,
        method="POST",
        timeout=timeout_s,
        num_digits=None if speech else digits_max,
        speech_timeout="auto" if speech else None,
        action_on_empty_result=True,
    )
    verb.say(prompt)
    return _xml(response)


def forward(number: str, message: str | None) -> str:
    """Say `message` (when there is one), then connect the caller to `number` (a fallback
    outside the exchange: no callbacks, nothing billed)."""
    response = VoiceResponse()
    if message:
        response.say(message)
    response.dial(number)
    return _xml(response)


def say(message: str) -> str:
    """Say `message` (the whisper's answer: then Twilio connects the call)."""
    response = VoiceResponse()
    response.say(message)
    return _xml(response)


def reject(message: str) -> str:
    """Say `message`, then hang up."""
    response = VoiceResponse()
    response.say(message)
    response.hangup()
    return _xml(response)


def refuse() -> str:
    """Reject the call without answering it (a blocked caller: it is never connected, and
    the call costs nobody anything)."""
    response = VoiceResponse()
    response.reject(reason="rejected")
    return _xml(response)


def hangup() -> str:
    response = VoiceResponse()
    response.hangup()
    return _xml(response)


def empty() -> str:
    """Acknowledge a callback without instructions."""
    return _xml(VoiceResponse())
