"""The lead scorer (`ppcx score run`, `serve`'s role `scorer`): JetStream → `Call.CallScored`.

A durable pull consumer (`ppcx-scorer`, explicit acks) reads the events stream. A call is
scored when it has ended — at its billing decision (`CallBilled`, `CallNotBilled`) — and again
when phrases are spotted in its recording later (`PhrasesSpotted`): each time with the model
in use (`ScoringModels`' active version) over the call's features as its events say then. The
score is appended *before* the message is acknowledged: a scorer that dies in between scores
the call again on redelivery, and `Call.score` records nothing when the call's latest score is
by the same model over the same features (so each (model, features) is recorded once). A model
scores the calls pinged after it was trained: never the history it learned from (which would
flatter the scores-vs-conversion report), and `replay verify` follows every such call's
features from the first model on.

The model in use is read from the log (its `ModelTrained` event holds the model itself, checked
against its hash) and, when the models directory has its file, checked against the file: a
model file that disagrees with the log stops the scorer. Without an active model the scorer
acknowledges and scores nothing (a call ended before any model stays unscored).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from nats.aio.msg import Msg

from domain.call import Call
from domain.catalog import topic_of
from domain.scoring_model import SCORING_MODELS_ID
from eventstore.stream_consumer import StreamSource, consume, durable_config
from evidence.models import ModelStore
from handlers.scoring import ActiveModel, ScoringHandlers

logger = logging.getLogger(__name__)
DURABLE = "ppcx-scorer"
FETCH_EVENTS = 100
ACK_WAIT_S = 30.0
MAX_ACK_PENDING = 1_000
# the events after which a call is scored (again)
SCORED_AFTER = frozenset(
    topic_of(cls) for cls in (Call.CallBilled, Call.CallNotBilled, Call.PhrasesSpotted)
)


@dataclass
class ScorerStats:
    messages: int = 0
    scored: int = 0
    skipped_no_model: int = 0


class ModelMismatch(RuntimeError):
    """The model file of a version is not the model the log recorded under it."""


class Scorer:
    def __init__(self, handlers: ScoringHandlers, models: ModelStore) -> None:
        self.handlers = handlers
        self.models = models
        self.stats = ScorerStats()
        self._active: ActiveModel | None = None
        self._stale = True  # read the model in use before the first score

    def active(self) -> ActiveModel | None:
        """The model in use: read from the log once, and again after the stream has carried
        an event of the models (it carries the log in order, so a call pinged after an
        activation comes after it)."""
        if self._stale:
            self._active = self._read_active()
            self._stale = False
        return self._active

    def _read_active(self) -> ActiveModel | None:
        found = self.handlers.active_version()
        if found is None:
            return None
        version, trained_at = found
        model = self.handlers.recorded_model(version)
        if model is None:
            raise ModelMismatch(f"the active model {version} was never recorded as trained")
        on_disk = self.models.get(version)
        if on_disk is not None and on_disk != model:
            raise ModelMismatch(f"the model file {version}.json is not the model in the log")
        return ActiveModel(version, model, trained_at)

    def score_all(self, messages: Sequence[bytes]) -> int:
        """Score the calls these stream messages end (or add phrases to) → how many scores
        were recorded."""
        calls: list[str] = []
        for data in messages:
            event = orjson.loads(data)
            if event["originator_id"] == SCORING_MODELS_ID:
                self._stale = True  # trained or activated: read again before scoring
            elif event["topic"] in SCORED_AFTER and event["originator_id"] not in calls:
                calls.append(event["originator_id"])
        self.stats.messages += len(messages)
        if not calls:
            return 0
        active = self.active()
        if active is None:
            self.stats.skipped_no_model += len(calls)
            return 0
        recorded = sum(self.handlers.score_call(c, active) is not None for c in calls)
        self.stats.scored += recorded
        return recorded

    # -- the stream -------------------------------------------------------------------------------
    async def run(self, source: StreamSource, stop: asyncio.Event) -> None:
        config = durable_config(DURABLE, ack_wait_s=ACK_WAIT_S, max_ack_pending=MAX_ACK_PENDING)
        await consume(
            source,
            config,
            FETCH_EVENTS,
            self._handle_all,
            stop,
            name="scorer",
        )

    async def _handle_all(self, messages: list[Msg]) -> None:
        try:
            await asyncio.to_thread(self.score_all, [m.data for m in messages])
        except Exception:  # not acknowledged: delivered again after ACK_WAIT_S
            logger.exception("scorer: %d messages not scored", len(messages))
            return
        for message in messages:
            await message.ack()
