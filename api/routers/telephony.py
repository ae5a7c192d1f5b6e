"""Telephony: a call's progress reported by the publisher's telephony, and Twilio-compatible
voice webhooks (a call to a tracking number runs the auction and is dialled to the winner;
the dial's end fails over to the next bidder or completes the call)."""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from api import attribution, twilio
from api.auth import Principal, require, services
from api.models import CallEventIn
from api.openapi import problems
from api.problems import Problem
from api.services import ApiServices
from domain.api_key import Role
from domain.billing import BillingDecision
from domain.call import Call
from domain.call_flags import EndedBy
from domain.call_state import CallStatus, FailoverReason, NoBuyerReason, TelephonyEvent
from domain.campaign import Campaign
from domain.consent import Consent, ConsentJson
from domain.errors import Conflict, DomainError, Refused, ValidationError
from domain.geo import Geo, check_caller, parse_e164
from domain.ids import derived_id
from domain.invariant import present
from domain.ivr import (
    HANGUP_MESSAGE_DEFAULT,
    FailAction,
    InputKind,
    OnFail,
    Question,
    Verdict,
    judge,
)
from domain.money import format_cents
from domain.recording import RecordingRule, parse_recording_sid
from domain.target import Target
from eventstore.application import PPCXApplication
from evidence.twilio_fetch import QueueFull
from exchange.ping import PingRequest
from exchange.qualification import IvrState
from handlers.results import Routed

router = APIRouter(tags=["telephony"])
TWIML = "application/xml"
TWIML_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "TwiML",
        "content": {
            TWIML: {
                "schema": {"type": "string"},
                "example": '<?xml version="1.0" encoding="UTF-8"?><Response><Dial>…</Dial>'
                "</Response>",
            }
        },
    },
    **problems(403),  # the X-Twilio-Signature does not match
}
_SECONDS_RE = re.compile(r"[0-9]{1,9}")
# Twilio's DialCallStatus of a dial that did not connect → the failover it asks for
FAILOVER = {
    "busy": FailoverReason.BUSY,
    "no-answer": FailoverReason.NO_ANSWER,
    "failed": FailoverReason.FAILED,
    "canceled": FailoverReason.FAILED,
}
# The parent call's CallStatus in the <Dial action> callback of a completed dial: still
# `in-progress`, the dialled party (the buyer) hung up first; `completed`, the caller did
DIAL_ENDED_BY = {"in-progress": EndedBy.BUYER, "completed": EndedBy.CALLER}


def billing_answer(billing: BillingDecision) -> dict[str, Any]:
    return {
        "billable": billing.billable,
        "reason": billing.reason,
        "revenue": format_cents(billing.revenue_cents),
        "payout": format_cents(billing.payout_cents),
    }


@router.post("/v1/calls/{call_id}/events", responses=problems(410))
async def call_event(
    call_id: str,
    body: CallEventIn,
    who: Principal = Depends(require(Role.PUBLISHER)),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """The call's progress: `answered`; `no_answer` / `busy` / `failed` (the answer names the
    next destination, or `null` when none is left); `completed` with `duration_s` and, when
    known, `ended_by` (the answer is the billing decision)."""
    if body.type == TelephonyEvent.COMPLETED and body.duration_s is None:
        raise ValidationError("a completed call reports its duration_s", field="duration_s")
    if body.type != TelephonyEvent.COMPLETED and body.ended_by is not None:
        raise ValidationError("only a completed call reports who ended it", field="ended_by")
    publisher = who.owner_id if who.role == Role.PUBLISHER else None
    if body.type == TelephonyEvent.COMPLETED:
        return billing_answer(
            await _complete(
                s, call_id, body.duration_s or 0, publisher, body.at, ended_by=body.ended_by
            )
        )
    if body.type == TelephonyEvent.ANSWERED:
        await s.call_life.answered(call_id, publisher, body.at)
        return {"call_id": call_id, "status": CallStatus.ANSWERED}
    reason = present(body.type.failover_reason, "any other event is a failover")
    result = await s.call_life.failed_over(call_id, reason, publisher, body.at)
    return {"call_id": call_id, "attempt": result.attempt, "destination": result.destination}


# -- Twilio ------------------------------------------------------------------------------------


def _signed_url(request: Request, s: ApiServices) -> str:
    """The URL Twilio signed: PPCX_PUBLIC_BASE_URL + path and query when set (behind a
    proxy), else the URL the request came to."""
    base = s.config.public_base_url
    if not base:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return base.rstrip("/") + request.url.path + query


async def _verified_form(request: Request, s: ApiServices) -> dict[str, str]:
    """The webhook's parameters, once its X-Twilio-Signature is verified (403 otherwise): a
    form post, or a JSON body whose SHA-256 Twilio put in the signed URL (`bodySHA256`)."""
    token = s.config.twilio_auth_token
    if not token:
        raise Problem(503, "telephony is not configured (set PPCX_TWILIO_AUTH_TOKEN)")
    url = _signed_url(request, s)
    received = request.headers.get("x-twilio-signature")
    if twilio.signs_body(url):
        raw = (await request.body()).decode("utf-8", "replace")
        if not twilio.valid(token, url, raw, received):
            raise Problem(403, "the X-Twilio-Signature does not match this request")
        if request.headers.get("content-type", "").startswith("application/json"):
            return _json_params(raw)
    form = await request.form()
    params = {k: str(v) for k, v in form.items()}
    if not twilio.signs_body(url) and not twilio.valid(token, url, params, received):
        raise Problem(403, "the X-Twilio-Signature does not match this request")
    return params


def _json_params(raw: str) -> dict[str, str]:
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise ValidationError("the body is not JSON", field="body") from None
    if not isinstance(body, dict):
        raise ValidationError("the body is a JSON object", field="body")
    return {str(k): str(v) for k, v in body.items() if isinstance(v, (str, int, float, bool))}


def _base(request: Request, s: ApiServices) -> str:
    return (s.config.public_base_url or str(request.base_url)).rstrip("/")


def _dial(
    request: Request,
    s: ApiServices,
    call_id: str,
    attempt: int,
    destination: str,
    *,
    evidence: DialEvidence | None = None,
) -> Response:
    base = _base(request, s) + "/v1/voice/"
    action = base + "status?" + urlencode({"call_id": call_id, "leg": "dial", "attempt": attempt})
    answered = base + "status?" + urlencode({"call_id": call_id, "leg": "answered"})
    recorded, whisper_url = None, None
    if evidence is not None and evidence.rule is not None and evidence.rule.enabled:
        recorded = twilio.Recorded(
            evidence.rule.disclosure if evidence.first else None,
            base + "recording?" + urlencode({"call_id": call_id}),
        )
    if evidence is not None and evidence.whisper:
        whisper_url = base + "whisper?" + urlencode({"call_id": call_id, "attempt": attempt})
    twiml = twilio.dial(
        destination,
        action=action,
        answered_callback=answered,
        recorded=recorded,
        whisper_url=whisper_url,
    )
    return Response(twiml, media_type=TWIML)


@dataclass(frozen=True)
class DialEvidence:
    """What a dial says and records: the campaign's recording rule (its disclosure said on
    the first dial only), and whether the routed target has a whisper."""

    rule: RecordingRule | None
    whisper: bool
    first: bool


def _evidence_of(app: PPCXApplication, call_id: str, *, first: bool) -> DialEvidence:
    """The recording rule of the call's campaign and its routed target's whisper, now."""
    call = app.load(Call, call_id, "call_id")
    campaign = app.find(Campaign, call.campaign_id)
    target = app.find(Target, call.route.target_id) if call.route is not None else None
    return DialEvidence(
        RecordingRule.of(campaign.recording) if campaign is not None else None,
        bool(target is not None and target.whisper),
        first,
    )


async def _dial_with_evidence(
    request: Request, s: ApiServices, call_id: str, attempt: int, destination: str, *, first: bool
) -> Response:
    evidence = await s.call(_evidence_of, s.app, call_id, first=first)
    return _dial(request, s, call_id, attempt, destination, evidence=evidence)


def _say(message: str) -> Response:
    return Response(twilio.reject(message), media_type=TWIML)


@router.post("/v1/voice/inbound", response_class=Response, responses=TWIML_ANSWER)
async def voice_inbound(request: Request, s: ApiServices = Depends(services)) -> Response:
    """Twilio's voice webhook for a tracking or DNI number: run the auction and answer TwiML
    `<Dial>` to the winner (its status callbacks come back to `/v1/voice/status`). A campaign
    with IVR questions (`ivr`) is asked first: the answer is `<Gather>` for its first
    question, whose answer comes back to `/v1/voice/ivr`."""
    params = await _verified_form(request, s)
    tracking = await _tracking(s, params)
    if tracking is None:
        return _say("This number is not in service.")
    caller, geo = _caller(params)
    call_sid = params.get("CallSid", "")
    # the caller's consent: custom parameters on the webhook's URL (or in its body); a bad
    # one is refused (422) before anything is recorded
    consent = Consent.from_parameters({**request.query_params, **params})
    found = await s.qualification.script(tracking.campaign_id, tracking.publisher_id, caller)
    if found is not None and call_sid:
        campaign, script = found
        state = IvrState(
            call_sid,
            tracking.campaign_id,
            campaign.version,
            0,
            {},
            None if consent is None else consent.to_json(),
        )
        return _gather(request, s, script.questions[0], state)
    return await _auction_and_dial(request, s, tracking, caller, geo, consent, call_sid, {})


@router.post("/v1/voice/ivr", response_class=Response, responses=TWIML_ANSWER)
async def voice_ivr(
    request: Request, state: str = "", s: ApiServices = Depends(services)
) -> Response:
    """The answer to an IVR question (`Digits` or `SpeechResult`; none when the caller said
    nothing), posted by Twilio's `<Gather>`: the next question's `<Gather>`; or, every
    question passed, the auction with the answers as the ping's tags and `<Dial>` to the
    winner; or, failed, the campaign's `on_fail` (a message and a hang-up, or `<Dial>` to
    its fallback number), recorded as `QualificationFailed`. `state` is the exchange's own
    signed state of the call (403 when it is not, or not for this CallSid)."""
    params = await _verified_form(request, s)
    call_sid = params.get("CallSid", "")
    current = s.ivr_states.verify(state, call_sid)
    if current is None:
        raise Problem(403, "the IVR state is not one this exchange signed for this call")
    tracking = await _tracking(s, params)
    if tracking is None or tracking.campaign_id != current.campaign_id:
        return _say("This number is not in service.")
    caller, geo = _caller(params)
    consent = None if current.consent is None else Consent.parse(_given(current.consent))
    script = await s.qualification.script_at(current.campaign_id, current.campaign_version)
    if script is None or current.question >= len(script.questions):  # none asked any more
        return await _auction_and_dial(
            request, s, tracking, caller, geo, consent, call_sid, current.tags
        )
    question = script.questions[current.question]
    field = "SpeechResult" if question.input == InputKind.SPEECH else "Digits"
    verdict = judge(question, params.get(field))
    if verdict.passed:
        passed = current.next(present(verdict.tag, "a passed question sets its tag"))
        if passed.question < len(script.questions):
            return _gather(request, s, script.questions[passed.question], passed)
        return await _auction_and_dial(
            request, s, tracking, caller, geo, consent, call_sid, passed.tags
        )
    request_of_call = PingRequest(
        campaign_id=tracking.campaign_id,
        publisher_id=tracking.publisher_id,
        caller_number=caller,
        geo=geo,
        attribution=tracking.attribution,
        consent=consent,
        call_id=derived_id("call", "twilio", call_sid),
    )
    return await _disqualified(s, request_of_call, current, question.id, verdict, script.on_fail)


async def _disqualified(
    s: ApiServices,
    request: PingRequest,
    state: IvrState,
    question_id: str,
    verdict: Verdict,
    on_fail: OnFail,
) -> Response:
    """Record the failed qualification (the ping and `QualificationFailed`), then answer the
    campaign's `on_fail`: the fallback number's `<Dial>`, or a message and a hang-up."""
    await s.qualification.disqualify(
        request, state, question_id=question_id, answer=verdict.kept, action=on_fail.action
    )
    if on_fail.action == FailAction.FALLBACK and on_fail.fallback_number:
        return Response(twilio.forward(on_fail.fallback_number, on_fail.message), media_type=TWIML)
    return _say(on_fail.message or HANGUP_MESSAGE_DEFAULT)


async def _tracking(s: ApiServices, params: dict[str, str]) -> attribution.Tracked | None:
    """The tracking number Twilio's `To` names, or None (not a number, not provisioned)."""
    try:
        to = parse_e164(params.get("To"), "To")
    except ValidationError:
        return None
    return await attribution.of_number(s, to)


def _caller(params: dict[str, str]) -> tuple[str | None, Geo]:
    """The caller's number (None: withheld) and where the caller is, as Twilio says."""
    try:
        # a number outside the plan is screened before the auction, not taken as withheld
        caller: str | None = check_caller(params.get("From"), "From")
    except ValidationError:  # "anonymous", "restricted", …
        caller = None
    try:
        geo = Geo.of_caller(
            caller, params.get("FromState") or None, params.get("FromZip") or None, None
        )
    except ValidationError:
        geo = Geo.of_caller(caller, None, None, None)
    return caller, geo


def _given(consent: ConsentJson) -> dict[str, object]:
    return {k: v for k, v in consent.items() if v is not None}


def _gather(request: Request, s: ApiServices, question: Question, state: IvrState) -> Response:
    action = _base(request, s) + "/v1/voice/ivr?" + urlencode({"state": s.ivr_states.sign(state)})
    speech = question.input == InputKind.SPEECH
    twiml = twilio.gather(
        question.prompt,
        speech=speech,
        action=action,
        timeout_s=question.timeout_s,
        digits_max=None if speech else question.digits_max,
    )
    return Response(twiml, media_type=TWIML)


async def _auction_and_dial(
    request: Request,
    s: ApiServices,
    tracking: attribution.Tracked,
    caller: str | None,
    geo: Geo,
    consent: Consent | None,
    call_sid: str,
    tags: dict[str, str],
) -> Response:
    """The auction of a Twilio call (with `tags`: the IVR's answers) and the TwiML for it:
    `<Dial>` to the winner, a refusal, or an apology."""
    started = time.perf_counter()
    result = await s.auctions.ping(
        PingRequest(
            campaign_id=tracking.campaign_id,
            publisher_id=tracking.publisher_id,
            caller_number=caller,
            geo=geo,
            attribution=tracking.attribution,
            tags=tags,
            consent=consent,
            call_id=derived_id("call", "twilio", call_sid) if call_sid else None,
        )
    )
    s.metrics.record_ping("twilio", result, started)
    if not result.accepted:
        if result.reason in (NoBuyerReason.BLOCKED, NoBuyerReason.SCREENED):
            return Response(twilio.refuse(), media_type=TWIML)
        return _say("Sorry, nobody can take your call right now. Please try again later.")
    try:
        routed = await s.call_life.post(result.call_id, tracking.publisher_id)
    except Refused:  # the caller was blocked after the ping
        return Response(twilio.refuse(), media_type=TWIML)
    except Conflict:  # Twilio retried the webhook: the call is already on its way
        call = await s.call(s.app.load, Call, result.call_id, "call_id")
        if call.route is None:
            raise
        routed = Routed(call.id, call.attempt, call.route)
    return await _dial_with_evidence(
        request, s, result.call_id, routed.attempt, routed.destination, first=True
    )


@router.post(
    "/v1/voice/status",
    response_class=Response,
    responses={**TWIML_ANSWER, **problems(404)},
)
async def voice_status(  # noqa: PLR0911 - one answer per Twilio callback kind
    request: Request,
    call_id: str,
    leg: str = "call",
    attempt: int = 0,
    s: ApiServices = Depends(services),
) -> Response:
    """Twilio's callbacks: the buyer answered (`leg=answered`); the dial ended (`leg=dial`:
    completed → billing; busy, no answer, failed → the next bidder's `<Dial>`); or the call
    ended (`CallStatus=completed`)."""
    params = await _verified_form(request, s)
    call = await s.call(s.app.find, Call, call_id)
    if call is None:
        raise Problem(404, f"call_id {call_id!r} does not exist")
    if leg == "answered":
        if params.get("CallStatus") in ("in-progress", "answered") and call.allows(
            Call.CallAnswered
        ):
            await s.call_life.answered(call_id, None)
        return Response(twilio.empty(), media_type=TWIML)
    if leg == "dial":
        status = params.get("DialCallStatus", "")
        if attempt and attempt != call.attempt:  # a retried callback for an earlier attempt
            if call.route is not None and call.status == CallStatus.ROUTING:
                return await _dial_with_evidence(
                    request, s, call_id, call.attempt, call.route.destination, first=False
                )
            return Response(twilio.hangup(), media_type=TWIML)
        if status == "completed":
            duration = _seconds(params.get("DialCallDuration"), "DialCallDuration")
            if call.allows(Call.CallAnswered):  # the answered callback may not have come first
                await s.call_life.answered(call_id, None)
            ended_by = DIAL_ENDED_BY.get(params.get("CallStatus", ""))
            await _complete(s, call_id, duration, None, ended_by=ended_by)
            return Response(twilio.hangup(), media_type=TWIML)
        if status in FAILOVER and call.allows(Call.CallFailedOver):
            result = await s.call_life.failed_over(call_id, FAILOVER[status], None)
            if result.destination is not None:
                return await _dial_with_evidence(
                    request, s, call_id, result.attempt, result.destination, first=False
                )
        return _say("Sorry, nobody can take your call right now. Please try again later.")
    if params.get("CallStatus") == "completed" and call.allows(Call.CallCompleted):
        duration_s = _seconds(params.get("CallDuration"), "CallDuration")
        with contextlib.suppress(DomainError):  # ended by the dial callback meanwhile
            await _complete(s, call_id, duration_s, None)
    return Response(twilio.empty(), media_type=TWIML)


@router.post(
    "/v1/voice/whisper",
    response_class=Response,
    responses={**TWIML_ANSWER, **problems(404)},
)
async def voice_whisper(
    request: Request, call_id: str, attempt: int = 0, s: ApiServices = Depends(services)
) -> Response:
    """The whisper: Twilio plays this to the buyer's agent when they pick up, before it
    connects the caller (the `<Number url>` of the dial) — the target's `whisper` text, said.
    A dial of an earlier attempt, or a target without a whisper, hears nothing."""
    await _verified_form(request, s)
    call = await s.call(s.app.find, Call, call_id)
    if call is None:
        raise Problem(404, f"call_id {call_id!r} does not exist")
    whisper = None
    if call.route is not None and attempt == call.attempt:
        target = await s.call(s.app.find, Target, call.route.target_id)
        whisper = target.whisper if target is not None else None
    return Response(twilio.say(whisper) if whisper else twilio.empty(), media_type=TWIML)


@router.post(
    "/v1/voice/recording",
    response_class=Response,
    responses={**TWIML_ANSWER, **problems(404, 422, 503)},
)
async def voice_recording(
    request: Request, call_id: str, s: ApiServices = Depends(services)
) -> Response:
    """Twilio's recording-status callback (`recordingStatusCallback` of a recording dial):
    a `completed` recording is recorded on the call (`RecordingAvailable`, once: a retried
    callback appends nothing) and queued to be fetched from Twilio's API, stored and hashed
    by the recordings worker (`CallRecorded` follows); this answers at once. Only the
    `RecordingSid` is kept — the `RecordingUrl` Twilio sends is never fetched."""
    params = await _verified_form(request, s)
    call = await s.call(s.app.find, Call, call_id)
    if call is None:
        raise Problem(404, f"call_id {call_id!r} does not exist")
    if params.get("RecordingStatus") != "completed":  # absent or failed: nothing to fetch
        return Response(twilio.empty(), media_type=TWIML)
    recording_sid = parse_recording_sid(params.get("RecordingSid"))
    duration_s = _seconds(params.get("RecordingDuration"), "RecordingDuration")
    if s.recorder is None:
        raise Problem(503, "call recordings are not configured")
    try:
        await s.call(s.recorder.accept, call_id, recording_sid, duration_s)
    except QueueFull as error:
        raise Problem(503, f"call recordings cannot be queued now: {error}") from None
    return Response(twilio.empty(), media_type=TWIML)


async def _complete(
    s: ApiServices,
    call_id: str,
    duration_s: int,
    publisher_id: str | None,
    at: datetime | None = None,
    *,
    ended_by: EndedBy | None = None,
) -> BillingDecision:
    """The call's end and its billing decision; the caller's history is in the log now, so
    this worker's duplicate index is brought up to date before the next ping rather than
    within the next sync tick."""
    billing = await s.call_life.completed(call_id, duration_s, publisher_id, at, ended_by)
    await s.call(s.sync_config)
    return billing


def _seconds(value: str | None, field: str) -> int:
    """A Twilio duration: whole seconds in ASCII digits. Anything else (missing, blank,
    negative, "95.5") is refused with 422 naming the parameter, never billed as 0 s."""
    if value is None or _SECONDS_RE.fullmatch(value) is None:
        raise ValidationError(f"{field} must be a whole number of seconds", field=field)
    return int(value)
