"""Lead scoring's commands: record a trained model (and make it the one in use), activate an
older one, score a call with the model in use (issue 24, item 5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from domain.base import PPCXAggregate
from domain.call import Call
from domain.scoring import FeatureFold, LinearModel
from domain.scoring_model import SCORING_MODELS_ID, ScoringModels, model_of
from handlers.unit_of_work import HandlerContext


@dataclass(frozen=True, slots=True)
class ActiveModel:
    version: str
    model: LinearModel
    trained_at: datetime  # it scores the calls pinged from then on


class ScoringHandlers:
    def __init__(self, ctx: HandlerContext) -> None:
        self.ctx = ctx
        self.app = ctx.app

    def record_training(
        self,
        model: LinearModel,
        *,
        auc_bp: int,
        calls_trained: int,
        calls_held_out: int,
        since_at: datetime | None,
        by: str,
        activate: bool = True,
    ) -> str:
        """Record the trained model (whole) and, unless told not to, make it the active one,
        in one save → its version."""
        version = model.version

        def change() -> tuple[list[PPCXAggregate], str]:
            at = self.ctx.now()
            models = self.app.find(ScoringModels, SCORING_MODELS_ID)
            if models is None:
                models = ScoringModels(id=SCORING_MODELS_ID, by=by, timestamp=at)
            models.check_train(model, auc_bp)
            models.record_training(
                version=version,
                features_version=model.features_version,
                auc_bp=auc_bp,
                calls_trained=calls_trained,
                calls_held_out=calls_held_out,
                since_at=since_at,
                model=dict(model.to_json()),
                by=by,
                timestamp=at,
            )
            if activate:
                models.activate(version=version, by=by, timestamp=at)
            return [models], version

        return self.ctx.run(change)

    def activate(self, version: str, by: str) -> None:
        def change() -> tuple[list[PPCXAggregate], None]:
            models = self.app.load(ScoringModels, SCORING_MODELS_ID, "version")
            models.check_activate(version)
            models.activate(version=version, by=by, timestamp=self.ctx.now())
            return [models], None

        self.ctx.run(change)

    def active_version(self) -> tuple[str, datetime] | None:
        """The model in use and when it was trained; None: none is."""
        models = self.app.find(ScoringModels, SCORING_MODELS_ID)
        if models is None or models.active_version is None:
            return None
        return models.active_version, models.trained[models.active_version]

    def recorded_model(self, version: str) -> LinearModel | None:
        """A trained model as the log recorded it (its `ModelTrained`), checked against its
        version; None when the log never trained it."""
        for _, _, topic, state in self.app.store.read_aggregate(SCORING_MODELS_ID):
            if topic.endswith(":ScoringModels.ModelTrained"):
                data: dict[str, Any] = orjson.loads(state)
                if data["version"] == version:
                    return model_of(data["model"], version)
        return None

    def score_call(self, call_id: str, active: ActiveModel) -> int | None:
        """Score the ended call with the model in use → its score, or None when nothing was
        recorded (not ended, pinged before the model was trained, or already scored by this
        model over the same features)."""

        def change() -> tuple[list[PPCXAggregate], int | None]:
            call = self.app.find(Call, call_id)
            if call is None or not call.allows(Call.CallScored):
                return [], None
            rows = self.app.store.read_aggregate(call_id)
            first: dict[str, Any] = orjson.loads(rows[0][3])
            if datetime.fromisoformat(first["timestamp"]) <= active.trained_at:
                return [], None  # history the model may have learned from
            fold = FeatureFold()
            for _, version, topic, state in rows:
                if version <= call.version:  # the events the loaded call has, no later
                    fold.feed(topic.partition(":")[2], orjson.loads(state))
            features = fold.features()
            if features is None:
                return [], None
            score_bp = active.model.score_bp(features)
            if not call.score(score_bp, active.version, features.to_json(), self.ctx.now()):
                return [], None
            return [call], score_bp

        return self.ctx.run(change, hot=(call_id,))
