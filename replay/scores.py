"""The lead scores' part of `replay verify` ("scores", named in the report once the log holds a
`Call.CallScored`): every score re-computed from the log alone — the model its event names
(`ScoringModels.ModelTrained` records the model itself, checked against its version, which is
its hash), over the features it recorded, gives the recorded score; and the recorded features
are the call's own, as its events up to the score say (`domain.scoring.FeatureFold`); and
the call was pinged after the model was trained (a model never scores its own history).

Run inside `replay.calls.CallChecker` (the calls' worker), fed the same decoded events. A
call's features are followed from the first trained model on (memory stays flat on a log
without scoring): a model scores only the calls pinged after it was trained
(`evidence.scorer`), so every score's call is followed. One whose ping the log holds before
the first model (a ping and a training racing on two hosts) has its score checked, not its
features, and is counted in `features_unchecked`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from domain.call import Call
from domain.catalog import name_of
from domain.invariant import InvariantViolation
from domain.scoring import CallFeatures, FeatureFold, LinearModel
from domain.scoring_model import ScoringModels, model_of

CHECK = "scores"
Handler = Callable[[str, dict[str, Any]], None]


class Broken(Exception):
    """A score's check failed (`replay.calls` reports it under `CHECK`)."""


class ScoreChecker:
    def __init__(self) -> None:
        self.models: dict[str, LinearModel] = {}
        self.trained_at: dict[str, datetime] = {}  # model version → its training's time
        self.folds: dict[str, FeatureFold] = {}  # calls followed, from the first model on
        self.pinged_at: dict[str, datetime] = {}  # … and when each was pinged
        self.checked = 0
        self.features_unchecked = 0

    def handlers(self) -> dict[type, Handler]:
        """What this half reads: the call's feature events, its scores and the models."""
        return {
            Call.PingReceived: self._ping,
            Call.CallCompleted: self._feature(name_of(Call.CallCompleted)),
            Call.PhrasesSpotted: self._feature(name_of(Call.PhrasesSpotted)),
            Call.NoBuyerFound: self._forget,  # ended without a conversation: never scored
            Call.PingExpired: self._forget,
            Call.PostRefused: self._forget,
            Call.CallScored: self._scored,
            ScoringModels.ModelTrained: self._trained,
        }

    def _ping(self, call_id: str, data: dict[str, Any]) -> None:
        if self.models:
            self.folds[call_id] = fold = FeatureFold()
            self.pinged_at[call_id] = datetime.fromisoformat(data["timestamp"])
            fold.feed(name_of(Call.PingReceived), data)

    def _feature(self, name: str) -> Handler:
        def feed(call_id: str, data: dict[str, Any]) -> None:
            fold = self.folds.get(call_id)
            if fold is not None:
                fold.feed(name, data)

        return feed

    def _forget(self, call_id: str, data: dict[str, Any]) -> None:
        self.folds.pop(call_id, None)
        self.pinged_at.pop(call_id, None)

    def _trained(self, models_id: str, data: dict[str, Any]) -> None:
        try:
            self.models[data["version"]] = model_of(data["model"], data["version"])
            self.trained_at[data["version"]] = datetime.fromisoformat(data["timestamp"])
        except (InvariantViolation, KeyError, TypeError, ValueError) as error:
            raise Broken(f"model {data.get('version')}: {type(error).__name__} {error}") from None

    def _scored(self, call_id: str, data: dict[str, Any]) -> None:
        self.checked += 1
        version = data.get("model_version")
        model = self.models.get(str(version))
        if model is None:
            raise Broken(f"scored by model {version}, which the log never trained")
        try:
            features = CallFeatures.from_json(data["features"])
            expected = model.score_bp(features)
        except (InvariantViolation, KeyError, TypeError, ValueError, AttributeError) as error:
            raise Broken(f"the recorded features: {type(error).__name__} {error}") from None
        if expected != data["score_bp"]:
            raise Broken(f"model {version} gives {expected} bp, the log says {data['score_bp']}")
        fold = self.folds.get(call_id)
        if fold is None:
            self.features_unchecked += 1
            return
        if self.pinged_at[call_id] <= self.trained_at[str(version)]:
            raise Broken(f"model {version} scored a call pinged before it was trained")
        own = fold.features()
        if own is None or own.to_json() != data["features"]:
            raise Broken(
                f"the recorded features {data['features']} are not the call's "
                f"{own.to_json() if own else None}"
            )
