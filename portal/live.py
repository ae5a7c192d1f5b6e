"""Live calls lists: the first page of a calls list, polled by the page (`LIVE_POLL_MS`), shows
the calls the projections have not reached yet as well as those they hold.

The projections publish a snapshot at most every second and a page polls every second, so a
list read from them alone shows a new call two or three seconds after its ping. The log has
it at once: the calls whose first event lies past the snapshot's position are read from the
log's tail (their ping, and the auction's outcome when there is one) and shown above the
projected rows, redacted by the same table (`domain.redaction.call_row`). Their later facts
(answer, bill, conversion) appear when the projections catch up; a call's own page is exact.

Polls are bounded per session (`LIVE_POLL_MIN_MS`, in Redis, so every API worker counts them):
a poll sooner than that is answered with 204, which htmx leaves alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from api.auth import Principal
from api.routers.calls import LIST_COLUMNS, money_names
from api.services import ApiServices
from domain import redaction
from domain.call import Call
from domain.catalog import topic_of
from exchange.keys import Keys
from projections.readers import NoProjections

LIVE_POLL_MS = 1_000  # how often a live list asks (the page's `every`)
LIVE_POLL_MIN_MS = 500  # a session's polls, at most one per this
LIVE_TAIL_EVENTS_MAX = 5_000  # log rows read past the snapshot per poll, at most
PINGED = topic_of(Call.PingReceived)
DECIDED = topic_of(Call.AuctionDecided)
NO_BUYER = topic_of(Call.NoBuyerFound)
SCREENED = topic_of(Call.PingScreened)
_TOPICS = (PINGED, DECIDED, NO_BUYER, SCREENED)
_ATTRIBUTION = {
    "source": "source",
    "medium": "medium",
    "utm_campaign": "campaign",
    "keyword": "keyword",
    "tracking_number": "tracking_number",
}


def projected_position(s: ApiServices) -> int | None:
    """The log position the published snapshot holds (None: no snapshot yet)."""
    try:
        cursor = s.reports.cursor()
    except NoProjections:  # everything is unprojected
        return None
    try:
        found = cursor.execute("SELECT max(position) FROM projection_position").fetchone()
    finally:
        cursor.close()
    return None if found is None or found[0] is None else int(found[0])


def unprojected_rows(s: ApiServices, after: int) -> tuple[list[dict[str, Any]], bool]:
    """Calls rows (the projection's columns, unknown facts None) of the calls first seen in
    the log after position `after`, newest first → (rows, whether older ones were left out:
    the snapshot is more than `LIVE_TAIL_EVENTS_MAX` events behind)."""
    store = s.app.store
    head = store.head()
    start = max(after + 1, head - LIVE_TAIL_EVENTS_MAX + 1)  # the newest, if there are more
    found = store.read_topics(start, LIVE_TAIL_EVENTS_MAX, stop=head, topics=list(_TOPICS))
    cut = start > after + 1
    rows: dict[str, dict[str, Any]] = {}
    for _, call_id, _, topic, state in found:
        event = orjson.loads(state)
        if topic == PINGED:
            rows[call_id] = _pinged(call_id, event)
        elif call_id in rows:  # its ping is in the snapshot: its row is there too
            rows[call_id].update(
                _decided(event)
                if topic == DECIDED
                else {"accepted": False, "no_buyer_reason": "screened"}
                if topic == SCREENED
                else _refused(event)
            )
    return sorted(rows.values(), key=lambda r: (r["pinged_at"], r["call_id"]), reverse=True), cut


def _pinged(call_id: str, event: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(LIST_COLUMNS)
    attribution = event.get("attribution") or {}
    row.update(
        call_id=call_id,
        pinged_at=datetime.fromisoformat(event["timestamp"]),
        campaign_id=event["campaign_id"],
        publisher_id=event["publisher_id"],
        state=(event.get("geo") or {}).get("state"),
        **{column: attribution.get(key) for column, key in _ATTRIBUTION.items()},
    )
    consent = event.get("consent") or {}
    at = consent.get("consented_at")
    row.update(
        consent_trustedform_cert_url=consent.get("trustedform_cert_url"),
        consent_jornaya_leadid=consent.get("jornaya_leadid"),
        consent_text_version=consent.get("text_version"),
        consented_at=None if at is None else datetime.fromisoformat(at),
    )
    return row


def _decided(event: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "accepted": True,
        "buyer_id": event["winner_buyer_id"],
        "target_id": event["winner_target_id"],
        "price_cents": event["price_cents"],
        "payout_offer_cents": event["payout_cents"],
    }


def _refused(event: Mapping[str, Any]) -> dict[str, Any]:
    return {"accepted": False, "no_buyer_reason": event["reason"]}


def live_items(
    s: ApiServices, who: Principal, projected: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], bool]:
    """The viewer's unprojected calls (as the API lists calls: redacted, money as decimal
    strings) followed by `projected` (the list's first page) → (items, whether the log's tail
    was too long to read in one poll)."""
    position = projected_position(s)
    rows, cut = unprojected_rows(s, position or 0)
    known = {item["call_id"] for item in projected}
    fresh = []
    for row in rows:
        shown = redaction.call_row(who, row)
        if shown is not None and row["call_id"] not in known:
            fresh.append(money_names(shown))
    return fresh + projected, cut


def matches(item: Mapping[str, Any], flags: Mapping[str, bool], campaign: str | None) -> bool:
    """Whether a live item passes the list's filters as the SQL would (unknown is false)."""
    if campaign is not None and item.get("campaign_id") != campaign:
        return False
    return all(bool(item.get(name)) == wanted for name, wanted in flags.items())


async def poll_allowed(s: ApiServices, keys: Keys, session_id: str) -> bool:
    """False when this session polled less than `LIVE_POLL_MIN_MS` ago (a page's poll then
    answers 204: `too_soon`)."""
    key = keys.live_poll(hashlib.sha256(session_id.encode()).hexdigest())
    return bool(await s.hot.redis.set(key, b"1", nx=True, px=LIVE_POLL_MIN_MS))
