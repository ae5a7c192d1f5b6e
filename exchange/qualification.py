"""IVR qualification on the exchange's side: the questions a campaign asks (from the market's
configuration, or from the log at the version a call started with), the state a call carries
from one question to the next (signed, so a forged query string is refused), and the record
of a caller who failed (`Call.PingReceived` + `Call.QualificationFailed`, no auction).

The rule that judges an answer is the domain's (`domain.ivr.judge`); the Twilio side (TwiML,
signatures) is the API's (`api/routers/telephony.py`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from domain.call import Call
from domain.campaign import Campaign
from domain.commands import RecordDisqualification
from domain.consent import ConsentJson
from domain.errors import NotFound
from domain.ivr import FailAction, IvrScript
from domain.limits import IVR_QUESTIONS_MAX
from eventstore.application import PPCXApplication
from exchange.auctions import AuctionService
from exchange.blocking import in_thread
from exchange.caller_hash import CallerHasher
from exchange.market import CampaignRule
from exchange.ping import PingRequest
from handlers.calls import CallHandlers

STATE_MAC_HEX = 32  # the state's HMAC-SHA-256, truncated (128 bits)
STATE_LENGTH_MAX = 4_000  # a state longer than this is refused unread


@dataclass(frozen=True, slots=True)
class IvrState:
    """Where a call is in its campaign's questions: the next one to judge (`question`, an
    index into the script of `campaign_version`), the tags the passed ones set, and the
    consent references its first webhook carried. Bound to Twilio's CallSid."""

    call_sid: str
    campaign_id: str
    campaign_version: int
    question: int
    tags: dict[str, str] = field(default_factory=dict)
    consent: ConsentJson | None = None

    def next(self, tag: tuple[str, str]) -> IvrState:
        return IvrState(
            self.call_sid,
            self.campaign_id,
            self.campaign_version,
            self.question + 1,
            {**self.tags, tag[0]: tag[1]},
            self.consent,
        )


class IvrStates:
    """Signs and checks `IvrState` tokens (`<base64url JSON>.<HMAC>`, keyed with the
    deployment's secret): the state rides in the `<Gather action>` URL, and only a state this
    exchange wrote, for this CallSid, is accepted."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"ppcx-ivr-state\x00" + secret.encode()).digest()

    def _mac(self, body: bytes) -> str:
        return hmac.new(self._key, body, hashlib.sha256).hexdigest()[:STATE_MAC_HEX]

    def sign(self, state: IvrState) -> str:
        body = base64.urlsafe_b64encode(
            orjson.dumps(
                [
                    state.call_sid,
                    state.campaign_id,
                    state.campaign_version,
                    state.question,
                    state.tags,
                    state.consent,
                ],
                option=orjson.OPT_SORT_KEYS,
            )
        ).rstrip(b"=")
        return f"{body.decode()}.{self._mac(body)}"

    def verify(self, token: str | None, call_sid: str) -> IvrState | None:
        """The state `token` holds, when this exchange signed it for `call_sid`; else None."""
        if not token or len(token) > STATE_LENGTH_MAX or "." not in token:
            return None
        body, _, mac = token.rpartition(".")
        if not hmac.compare_digest(mac.encode(), self._mac(body.encode()).encode()):
            return None
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            sid, campaign_id, version, question, tags, consent = orjson.loads(raw)
        except (ValueError, TypeError, orjson.JSONDecodeError):
            return None
        if sid != call_sid or not 0 <= question < IVR_QUESTIONS_MAX:
            return None
        return IvrState(sid, campaign_id, version, question, dict(tags), consent)


class QualificationService:
    """The questions of a campaign, and the record of a failed qualification."""

    def __init__(
        self,
        *,
        app: PPCXApplication,
        auctions: AuctionService,
        calls: CallHandlers,
        hasher: CallerHasher,
        executor: ThreadPoolExecutor,
    ) -> None:
        self.app = app
        self.auctions = auctions
        self.calls = calls
        self.hasher = hasher
        self.executor = executor

    async def script(
        self, campaign_id: str, publisher_id: str, caller_number: str | None
    ) -> tuple[CampaignRule, IvrScript] | None:
        """The campaign's questions now, with its rules (their version names the questions)
        → None when it asks none, or when the ping would be refused anyway (an unknown
        campaign, a publisher it does not allow or that is suspended, a blocked caller): the
        auction's path answers those as it always did, and a blocked caller is asked
        nothing."""
        try:
            snapshot, campaign = await self.auctions.market_of(campaign_id)
        except NotFound:
            return None
        if (
            campaign.ivr is None
            or publisher_id not in campaign.allowed_publishers
            or publisher_id in snapshot.suspended_publishers
        ):
            return None
        if caller_number is not None:
            peek = await self.auctions.hot.peek(
                snapshot.market, campaign_id, publisher_id, self.hasher(caller_number)
            )
            if peek.blocked:
                return None
        return campaign, campaign.ivr

    async def script_at(self, campaign_id: str, version: int) -> IvrScript | None:
        """The campaign's questions at `version` (the call's first question was asked from
        it): from the market's configuration when it is still that version, else from the
        log."""
        _, campaign = await self.auctions.market_of(campaign_id)
        if campaign.version == version:
            return campaign.ivr
        stored = await in_thread(self.executor, self._stored_ivr, campaign_id, version)
        return IvrScript.of(stored)

    def _stored_ivr(self, campaign_id: str, version: int) -> Mapping[str, Any] | None:
        campaign: object = self.app.repository.get(campaign_id, version=version)
        if not isinstance(campaign, Campaign):
            raise NotFound(f"campaign_id {campaign_id!r} does not exist", field="campaign_id")
        return campaign.ivr

    async def disqualify(
        self,
        request: PingRequest,
        state: IvrState,
        *,
        question_id: str,
        answer: str | None,
        action: FailAction,
    ) -> Call:
        """Record the call of a caller who failed `question_id`: its ping (with the tags of
        the questions passed before) and the failure. Idempotent per call id."""
        _, campaign = await self.auctions.market_of(request.campaign_id)
        caller_hash = (
            self.hasher(request.caller_number)
            if request.caller_number
            else CallerHasher.anonymous()
        )
        command = RecordDisqualification(
            call_id=str(request.call_id),
            campaign_id=request.campaign_id,
            publisher_id=request.publisher_id,
            caller_hash=caller_hash,
            geo=request.geo.to_dict(),
            attribution=request.attribution,
            tags=dict(state.tags),
            market=campaign.market,
            question_id=question_id,
            answer=answer,
            action=action,
            campaign_version=state.campaign_version,
            consent=state.consent,
        )
        return await in_thread(self.executor, self.calls.record_disqualification, command)
