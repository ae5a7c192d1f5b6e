"""The lead-scoring models the exchange trained and the one in use, as facts in the log (issue
24, item 5). One aggregate for the deployment (`SCORING_MODELS_ID`): each training records
`ModelTrained` with the model itself (its canonical JSON, `domain.scoring.LinearModel`: a few
thousand whole numbers at most), so `replay verify` re-scores every `Call.CallScored` from the
log alone; `ModelActivated` makes a trained model the one the scorer uses (training activates
its model unless told not to; activating an older one rolls back). A model scores the calls
pinged after it was trained, never the history it learned from."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import event

from domain.base import PPCXAggregate
from domain.errors import Conflict, NotFound
from domain.ids import derived_id
from domain.invariant import invariant
from domain.limits import SCORE_BP
from domain.scoring import LinearModel, ModelJson, is_model_version

SCORING_MODELS_ID = derived_id("scm", "scoring-models")


class ScoringModels(PPCXAggregate):
    if TYPE_CHECKING:  # the event classes `@event` makes, for type checkers
        Started: type[PPCXAggregate.Created]
        ModelTrained: type[PPCXAggregate.Event]
        ModelActivated: type[PPCXAggregate.Event]

    @event("Started")
    def __init__(self, id: str, by: str, timestamp: datetime) -> None:
        self.trained: dict[str, datetime] = {}  # version → when it was trained
        self.active_version: str | None = None

    def check_train(self, model: LinearModel, auc_bp: int) -> None:
        invariant(auc_bp in SCORE_BP, "an AUC is 0..10000 basis points")
        if model.version in self.trained:
            raise Conflict(f"model {model.version} was trained already")

    @event("ModelTrained")
    def record_training(
        self,
        version: str,
        features_version: int,
        auc_bp: int,
        calls_trained: int,
        calls_held_out: int,
        since_at: datetime | None,
        model: dict[str, Any],
        by: str,
        timestamp: datetime,
    ) -> None:
        """A model was trained on `calls_trained` calls of the log (those pinged from
        `since_at`; None: all) and measured on `calls_held_out` others: `auc_bp`."""
        self.trained = {**self.trained, version: timestamp}

    def check_activate(self, version: str) -> None:
        if version not in self.trained:
            raise NotFound(f"no trained model {version}", field="version")
        if version == self.active_version:
            raise Conflict(f"model {version} is active already")

    @event("ModelActivated")
    def activate(self, version: str, by: str, timestamp: datetime) -> None:
        self.active_version = version

    @property
    def active_trained_at(self) -> datetime | None:
        """When the model in use was trained: it scores the calls pinged from then on (not
        the calls it learned from)."""
        return None if self.active_version is None else self.trained[self.active_version]


def model_of(data: ModelJson | dict[str, Any], version: str) -> LinearModel:
    """The model recorded under `version`, checked against its version (its hash)."""
    invariant(is_model_version(version), "a model's version is its hash")
    model = LinearModel.from_json(data)
    invariant(model.version == version, f"the model recorded as {version} hashes to itself")
    return model
