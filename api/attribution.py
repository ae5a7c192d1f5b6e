"""Attribution derived from a tracking number, the same for a Twilio call to the number and for
a ping that names the number or a DNI session.

A number's own source, medium and keyword come from its provisioning; a DNI pool's number adds
what the web session holding it now brought (source, medium, campaign, keyword, click id) and
the session's id. A ping's explicit attribution fields are kept only where the number says
nothing: the number is the evidence of where the caller came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.services import ApiServices
from domain.errors import ValidationError
from domain.geo import parse_e164
from domain.numbers import TrackingNumber, number_id

TRACKING_FIELD = "attribution.tracking_number"
SESSION_FIELD = "attribution.dni_session"


@dataclass(frozen=True)
class Tracked:
    """A provisioned tracking number: whose it is, and the attribution a call to it gets."""

    number: str
    campaign_id: str
    publisher_id: str
    attribution: dict[str, Any]


async def of_number(s: ApiServices, number: str) -> Tracked | None:
    """The attribution of a call to `number` (E.164) now, or None when it is not a tracking
    number. A DNI number held by a live session carries that session's attribution."""
    tracking = await s.call(s.app.find, TrackingNumber, number_id(number))
    if tracking is None:
        return None
    attribution: dict[str, Any] = {"source": tracking.source, "tracking_number": number}
    if tracking.medium:
        attribution["medium"] = tracking.medium
    if tracking.keyword:
        attribution["keyword"] = tracking.keyword
    if tracking.pool_id:
        owner = await s.dni.owner(tracking.pool_id, number, s.clock.now())
        if owner is not None:
            attribution |= {k: v for k, v in owner["attribution"].items() if v}
            attribution["dni_session"] = owner["session"]
    return Tracked(number, tracking.campaign_id, tracking.publisher_id, attribution)


async def for_ping(
    s: ApiServices, given: dict[str, Any], campaign_id: str, publisher_id: str
) -> dict[str, Any]:
    """A ping's attribution: as given, unless it names a tracking number or a DNI session —
    then what a call to that number gets, with the given fields filling only what the number
    leaves empty. A number that is not the publisher's on this campaign, or a session that
    holds none of its numbers now, is refused (422 naming the field)."""
    number_text, session = given.get("tracking_number"), given.get("dni_session")
    if number_text is None and session is None:
        return given
    if number_text is not None:
        found = await of_number(s, parse_e164(number_text, TRACKING_FIELD))
        if found is None or (found.campaign_id, found.publisher_id) != (campaign_id, publisher_id):
            raise ValidationError(
                f"{number_text} is not a tracking number of this publisher on campaign "
                f"{campaign_id}",
                field=TRACKING_FIELD,
            )
    else:
        found = await _of_session(s, str(session), campaign_id, publisher_id)
    if session is not None and found.attribution.get("dni_session") != session:
        raise ValidationError(
            f"DNI session {session!r:.100} does not hold {found.number} now (unknown or expired)",
            field=SESSION_FIELD,
        )
    return given | found.attribution


async def _of_session(s: ApiServices, session: str, campaign_id: str, publisher_id: str) -> Tracked:
    """The number `session` holds now in a pool of this publisher and campaign."""
    for _pool_id, number in await s.dni.held_by(session, s.clock.now()):
        found = await of_number(s, number)
        if (
            found is not None
            and (found.campaign_id, found.publisher_id) == (campaign_id, publisher_id)
            and found.attribution.get("dni_session") == session
        ):
            return found
    raise ValidationError(
        f"DNI session {session!r:.100} holds no number of this publisher on campaign "
        f"{campaign_id} now (unknown or expired)",
        field=SESSION_FIELD,
    )
