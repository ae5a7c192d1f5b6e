"""Reading calls: the list (from the projections, keyset-paginated) and one call's full
event timeline (from the event store itself), each scoped and redacted by role."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query

from api.auth import Principal, require, services
from api.models import Page, TimelineOut, TranscriptOut, TranscriptsOut
from api.params import PAGE_LIMIT_DEFAULT, PageCursor, PageLimit
from api.problems import Problem
from api.services import ApiServices
from domain import redaction
from domain.anomaly import CampaignTraffic
from domain.api_key import ApiKey, Role
from domain.blocklist import BlockedCaller
from domain.buyer import Buyer
from domain.call import Call
from domain.caller_history import CallerHistory
from domain.campaign import Campaign
from domain.catalog import Reads, topic_of
from domain.errors import NotFound
from domain.limits import ID_LENGTH_MAX
from domain.money import format_cents
from domain.numbers import NumberPool, TrackingNumber
from domain.publisher import Publisher
from domain.rate_limits import RateLimitReport
from domain.receipt import CommandReceipt
from domain.saved_query import SavedQueries
from domain.scoring_model import ScoringModels
from domain.target import Target
from domain.transcript import may_read_transcript
from domain.user import User
from domain.webhook import Webhook
from evidence.transcripts import TranscriptMissing, TranscriptStore
from projections.readers import NoProjections

router = APIRouter(tags=["reading"])
REFUSED_TOPIC = topic_of(RateLimitReport.PingsRefused)
RATE_LIMIT_REPORTS_READ_MAX = 100_000  # reports read from the log for one list, at most
# A timeline shows any event of a call (as the redaction table allows), and nothing else.
TIMELINE_READS = Reads(
    "GET /v1/calls/{call_id}",
    handles=(Call,),
    ignores=(
        ApiKey,
        User,
        SavedQueries,
        Webhook,
        BlockedCaller,
        Buyer,
        CallerHistory,
        Campaign,
        CommandReceipt,
        RateLimitReport,
        CampaignTraffic,
        NumberPool,
        Publisher,
        Target,
        TrackingNumber,
        ScoringModels,
    ),
)
anyone = require(Role.PUBLISHER, Role.BUYER, Role.FINANCE, Role.ANALYST)
LIST_COLUMNS = (
    "call_id",
    "pinged_at",
    "campaign_id",
    "vertical",
    "publisher_id",
    "state",
    "source",
    "medium",
    "utm_campaign",
    "keyword",
    "tracking_number",
    "accepted",
    "no_buyer_reason",
    "buyer_id",
    "target_id",
    "price_cents",
    "payout_offer_cents",
    "expired",
    "post_refused_reason",
    "posted",
    "attempts",
    "answered",
    "duration_s",
    "billed",
    "not_billed_reason",
    "revenue_cents",
    "payout_cents",
    "margin_cents",
    "converted",
    "conversion_value_cents",
    "disputed",
    "reversed",
    "consent_trustedform_cert_url",
    "consent_jornaya_leadid",
    "consent_text_version",
    "consented_at",
    "ended_by",
    "flags",
    "disqualified_question_id",
    "disqualified_action",
    "score_bp",
    "score_model_version",
)
# yes/no filters a caller of `list_calls` may add (the portal's calls page); never in SQL as text
FLAG_COLUMNS = ("billed", "converted", "disputed")
# `outcome` filters of the list (the portal's): a refused ping, a billed call, an unbilled one
OUTCOMES = {
    "refused": "accepted = false",
    "billed": "billed = true",
    "not_billed": "accepted AND billed = false",  # a refused ping is not a call
}


def _json_ready(column: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if column.endswith("_cents"):
        return None if value is None else format_cents(int(value))
    return value


def money_names(row: dict[str, Any]) -> dict[str, Any]:
    """`revenue_cents` → `revenue`: the API speaks decimal strings, not cents."""
    return {
        (k[: -len("_cents")] if k.endswith("_cents") else k): _json_ready(k, v)
        for k, v in row.items()
    }


def _encode_cursor(pinged_at: datetime, call_id: str) -> str:
    raw = orjson.dumps([pinged_at.isoformat(), call_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, call_id = orjson.loads(raw)
        return datetime.fromisoformat(at), str(call_id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise Problem(
            422,
            "the cursor is not one this API issued",
            errors=[{"field": "cursor", "message": "invalid cursor"}],
        ) from None


def list_calls(
    s: ApiServices,
    who: Principal,
    limit: int,
    cursor: str | None,
    campaign_id: str | None,
    flags: Mapping[str, bool] | None = None,
    outcome: str | None = None,
) -> Page:
    """`flags`: of `FLAG_COLUMNS`, which must be true or false (unknown: not yet, so false)."""
    where: list[str] = ["true"]
    params: dict[str, Any] = {}
    for column in FLAG_COLUMNS:
        if flags is not None and column in flags:
            where.append(f"coalesce({column}, false) = ${column}")
            params[column] = flags[column]
    if who.role == Role.PUBLISHER:
        where.append("publisher_id = $owner")
        params["owner"] = who.owner_id
    elif who.role == Role.BUYER:
        where.append("buyer_id = $owner")
        params["owner"] = who.owner_id
    if campaign_id is not None:
        where.append("campaign_id = $campaign")
        params["campaign"] = campaign_id
    if outcome is not None:
        where.append(OUTCOMES[outcome])
    if cursor is not None:
        params["at"], params["after"] = _decode_cursor(cursor)
        where.append("(pinged_at, call_id) < ($at, $after)")
    params["limit"] = limit + 1
    sql = (
        f"SELECT {', '.join(LIST_COLUMNS)} FROM calls WHERE {' AND '.join(where)} "
        "ORDER BY pinged_at DESC, call_id DESC LIMIT $limit"
    )
    try:
        rows = s.reports.cursor().execute(sql, params).fetchall()
    except NoProjections:
        raise Problem(503, "no projections yet: run `ppcx project`") from None
    page = [dict(zip(LIST_COLUMNS, row, strict=True)) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = _encode_cursor(last["pinged_at"], last["call_id"])
    shown = [redaction.call_row(who, row) for row in page]
    return Page(
        items=[money_names(row) for row in shown if row is not None], next_cursor=next_cursor
    )


@router.get("/v1/calls", response_model=Page)
async def calls(
    limit: PageLimit = PAGE_LIMIT_DEFAULT,
    cursor: PageCursor = None,
    campaign_id: str | None = Query(default=None, max_length=ID_LENGTH_MAX),
    who: Principal = Depends(anyone),
    s: ApiServices = Depends(services),
) -> Page:
    """Calls, newest first, from the projections (a few seconds behind the log): a publisher
    sees its own, a buyer those routed to it; columns as `domain.redaction` allows."""
    return await s.call(list_calls, s, who, limit, cursor, campaign_id)


def _refusal_reports(s: ApiServices) -> list[tuple[str, dict[str, Any]]]:
    """Reports of refused pings (the log's first `RATE_LIMIT_REPORTS_READ_MAX`), newest first."""
    store = s.app.store
    rows = store.read_topics(
        1, RATE_LIMIT_REPORTS_READ_MAX, stop=store.head(), topics=[REFUSED_TOPIC]
    )
    return [
        (topic, {"id": report_id, **orjson.loads(stored)})
        for _, report_id, _, topic, stored in reversed(rows)
    ]


@router.get("/v1/rate-limit-reports", response_model=Page)
async def rate_limit_reports(
    limit: PageLimit = PAGE_LIMIT_DEFAULT,
    who: Principal = Depends(require(Role.PUBLISHER)),
    s: ApiServices = Depends(services),
) -> Page:
    """Pings refused over a rate limit, newest first: one report per publisher per second at
    most, with how many were refused since the previous one (`refused`, `since_at`) and the
    limit then (`rate_per_s`, `burst`). A publisher sees its own; an admin every one."""
    shown = []
    for topic, state in await s.call(_refusal_reports, s):
        seen = redaction.publisher_event(who, topic, state)
        if seen is not None:
            shown.append({"type": "PingsRefused", "id": state["id"], **money_names(seen)})
        if len(shown) >= limit:
            break
    return Page(items=shown, next_cursor=None)


def _timeline(s: ApiServices, call_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The call's stored events as `(topic, state)`, the state with its version."""
    events = []
    for _, version, topic, stored in s.app.store.read_aggregate(call_id):
        if topic not in TIMELINE_READS.topics:  # not a call's: no timeline
            return []
        state: dict[str, Any] = orjson.loads(stored)
        state["originator_version"] = version
        events.append((topic, state))
    return events


def _shown(topic: str, state: dict[str, Any]) -> dict[str, Any]:
    payload = {
        k: v for k, v in state.items() if k not in ("originator_topic", "originator_version")
    }
    return {
        "type": topic.rsplit(".", 1)[-1],
        **money_names(payload),
        "version": state["originator_version"],
    }


@router.get("/v1/calls/{call_id}", response_model=TimelineOut)
async def call_timeline(
    call_id: str, who: Principal = Depends(anyone), s: ApiServices = Depends(services)
) -> TimelineOut:
    """One call's full event timeline, straight from the event store: ping, every bid
    (received, rejected, timed out), the decision, routes, failovers, the billing decision,
    conversion and disputes — each event and field shown only to those `domain.redaction`
    lets see it (a buyer sees the events that concern it)."""
    events = await s.call(_timeline, s, call_id)
    shown = redaction.call_timeline(who, events) if events else None
    if shown is None:
        raise NotFound(f"call_id {call_id!r} does not exist", field="call_id")
    call = await s.call(s.calls.load_call, call_id)
    return TimelineOut(
        call_id=call_id,
        status=call.status,
        events=[_shown(topic, state) for topic, state in shown],
    )


_TRANSCRIBED = topic_of(Call.CallTranscribed)
_SPOTTED = topic_of(Call.PhrasesSpotted)


@router.get("/v1/calls/{call_id}/transcript", response_model=TranscriptsOut)
async def call_transcripts(
    call_id: str,
    who: Principal = Depends(require(Role.PUBLISHER, Role.BUYER, Role.FINANCE, Role.ANALYST)),
    s: ApiServices = Depends(services),
) -> TranscriptsOut:
    """The call's transcripts (redacted before they were stored: card and SSN digits) with
    the campaign phrases spotted in each. Admin, finance and the buyer the call was routed
    to; to anyone else the call does not exist (404)."""
    found = await s.call(_transcripts, s, who, call_id)
    if found is None:
        raise NotFound(f"call_id {call_id!r} does not exist", field="call_id")
    return TranscriptsOut(call_id=call_id, transcripts=found)


def _transcripts(s: ApiServices, who: Principal, call_id: str) -> list[TranscriptOut] | None:
    events = _timeline(s, call_id)
    context = redaction.CallContext.of(events)
    if not events or not may_read_transcript(who.role, who.owner_id, context.routed_buyer_id):
        return None
    spotted = {state["recording_id"]: state["phrases"] for t, state in events if t == _SPOTTED}
    found = []
    for topic, state in events:
        if topic != _TRANSCRIBED or s.transcripts is None:
            continue
        found.append(
            TranscriptOut(
                recording_id=state["recording_id"],
                text=_stored_text(s.transcripts, state["location"]),
                transcript_sha256=state["transcript_sha256"],
                engine=state["engine"],
                engine_version=state["engine_version"],
                redactions=state["redactions"],
                audio_ms=state["audio_ms"],
                transcribed_at=state["timestamp"],
                phrases=spotted.get(state["recording_id"]),
            )
        )
    return found


def _stored_text(store: TranscriptStore, location: str) -> str | None:
    try:
        return store.read(location)
    except TranscriptMissing:
        return None
