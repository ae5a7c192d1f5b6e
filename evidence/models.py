"""Lead-scoring models: trained with scikit-learn on the log's own calls, stored as plain JSON.

* **Training** (`train`): each call's tokens (`domain.scoring.CallFeatures.tokens`) one-hot
  encoded (`DictVectorizer`), a logistic regression fitted (L2, `lbfgs`, a fixed
  `random_state`: the same calls give the same model), its weights rounded to whole millionths
  (`domain.scoring.LinearModel`), the largest `SCORING_WEIGHTS_MAX` kept. The calls are split
  by a hash of their id (`holdout_percent` of them held out): the split does not depend on the
  order the log gives them, and a call stays on its side as the log grows. The AUC reported is
  the stored model's, measured on the held-out calls.
* **Storing** (`ModelStore`): `<dir>/<version>.json`, the model's canonical JSON; its name is
  its hash (`domain.scoring.model_version`), so no user text names a file, and a file whose
  bytes do not hash to its name is refused. No pickle, no joblib: loading a model never runs
  code.
* **Reading the log** (`LogCalls`): the calls' features folded from raw stored events, the
  label from `Call.CallConverted`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from domain.invariant import invariant
from domain.limits import (
    SCORING_CALLS_MAX,
    SCORING_CALLS_MIN,
    SCORING_HOLDOUT_PERCENT,
    SCORING_WEIGHTS_MAX,
)
from domain.scoring import (
    FEATURE_EVENTS,
    PING,
    WEIGHT_SCALE,
    CallFeatures,
    FeatureFold,
    LinearModel,
    is_model_version,
    model_version,
)
from evidence.files import replaced_whole

CONVERTED = "Call.CallConverted"
# calls that ended without a conversation: never scored, never learned from
UNHEARD = frozenset({"Call.NoBuyerFound", "Call.PingExpired", "Call.PostRefused"})
RANDOM_STATE = 0
REGULARISATION_C = 1.0  # inverse L2 strength (scikit-learn's default)
FIT_ITERATIONS_MAX = 1_000


class TooFewCalls(ValueError):
    """Not enough calls (or only one outcome) to train or to measure a model."""


@dataclass(frozen=True, slots=True)
class LabelledCall:
    call_id: str
    features: CallFeatures
    converted: bool


@dataclass(frozen=True, slots=True)
class Training:
    model: LinearModel
    auc_bp: int  # the stored model's ROC AUC on the held-out calls, in basis points
    calls_trained: int
    calls_held_out: int
    converted_trained: int
    converted_held_out: int

    @property
    def version(self) -> str:
        return self.model.version


def held_out(call_id: str, holdout_percent: int) -> bool:
    """Whether a call is among the held-out ones: by its id's hash, not its place in the log."""
    digest = hashlib.sha256(call_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < holdout_percent


def train(
    calls: Sequence[LabelledCall], holdout_percent: int = SCORING_HOLDOUT_PERCENT.default or 20
) -> Training:
    """Fit a model on the calls not held out and measure it on the others."""
    # scikit-learn takes a second to import: only a training pays for it (not the scorer)
    from sklearn.feature_extraction import DictVectorizer  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

    invariant(holdout_percent in SCORING_HOLDOUT_PERCENT, "a held-out share of 5..50 %")
    ordered = sorted(calls, key=lambda c: c.call_id)  # the same calls, the same model
    fit = [c for c in ordered if not held_out(c.call_id, holdout_percent)]
    test = [c for c in ordered if held_out(c.call_id, holdout_percent)]
    for part, name in ((fit, "trained on"), (test, "held out")):
        outcomes = {c.converted for c in part}
        if len(part) < SCORING_CALLS_MIN // 2 or len(outcomes) < 2:
            raise TooFewCalls(
                f"{len(part)} calls to be {name}, with {sorted(outcomes)} outcomes: at least "
                f"{SCORING_CALLS_MIN // 2} and both converted and not are needed"
            )
    vectorizer = DictVectorizer(sparse=True, sort=True)
    x = vectorizer.fit_transform([_one_hot(c.features) for c in fit])
    y = [int(c.converted) for c in fit]
    regression = LogisticRegression(
        C=REGULARISATION_C,
        solver="lbfgs",
        max_iter=FIT_ITERATIONS_MAX,
        random_state=RANDOM_STATE,
    )
    regression.fit(x, y)
    names = vectorizer.get_feature_names_out()
    weights = {
        str(name): round(float(w) * WEIGHT_SCALE)
        for name, w in zip(names, regression.coef_[0], strict=True)
    }
    kept = sorted(weights.items(), key=lambda item: (-abs(item[1]), item[0]))
    model = LinearModel(
        round(float(regression.intercept_[0]) * WEIGHT_SCALE),
        dict(sorted((n, w) for n, w in kept[:SCORING_WEIGHTS_MAX] if w != 0)),
    )
    return Training(
        model,
        auc_bp(model, test),
        len(fit),
        len(test),
        sum(c.converted for c in fit),
        sum(c.converted for c in test),
    )


def auc_bp(model: LinearModel, calls: Sequence[LabelledCall]) -> int:
    """The model's ROC AUC over `calls`, in basis points (scored as the scorer scores)."""
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415 - as `train`

    labels = [int(c.converted) for c in calls]
    if len(set(labels)) < 2:
        raise TooFewCalls("an AUC needs both converted and unconverted calls")
    scores = [model.score_bp(c.features) for c in calls]
    return round(float(roc_auc_score(labels, scores)) * 10_000)


def _one_hot(features: CallFeatures) -> dict[str, int]:
    return dict.fromkeys(features.tokens(), 1)


# -- the model files ------------------------------------------------------------------------------


class ModelStore:
    """Models as files named by their version: `<directory>/<version>.json`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, version: str) -> Path:
        invariant(is_model_version(version), "a model file is named by its version (its hash)")
        return self.directory / f"{version}.json"

    def put(self, model: LinearModel) -> str:
        """Write the model (atomically: a whole file or none) → its version."""
        data = model.canonical()
        version = model_version(data)
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path(version)
        if target.exists():
            return version
        with replaced_whole(target) as file:
            file.write(data)
        return version

    def get(self, version: str) -> LinearModel | None:
        """The model of `version`, None when no file has it; a file that does not hash to its
        name is refused (ValueError)."""
        try:
            data = self.path(version).read_bytes()
        except FileNotFoundError:
            return None
        if model_version(data) != version:
            raise ValueError(f"the model file {version}.json does not hash to its name")
        return LinearModel.from_json(orjson.loads(data))


# -- the calls of the log -------------------------------------------------------------------------


@dataclass
class LogCalls:
    """The ended calls of the log with their features and outcome, folded from raw stored
    rows (`(position, originator_id, version, topic, state)` prefixes, in log order). A call
    pinged before `since_at` is left out; at most `SCORING_CALLS_MAX` calls are kept."""

    since_at: datetime | None = None
    folds: dict[str, FeatureFold] = field(default_factory=dict)
    converted: set[str] = field(default_factory=set)
    skipped: int = 0

    def feed(self, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            call_id, topic, state = row[1], row[3], row[4]
            if topic is None or state is None:
                continue
            name = topic.partition(":")[2]
            if name == CONVERTED:
                self.converted.add(call_id)
            elif name in UNHEARD:
                self.folds.pop(call_id, None)  # memory: only calls that may end in a talk
            elif name in FEATURE_EVENTS:
                self._feature(call_id, name, orjson.loads(state))

    def _feature(self, call_id: str, name: str, data: dict[str, Any]) -> None:
        fold = self.folds.get(call_id)
        if name == PING:
            pinged_at = datetime.fromisoformat(data["timestamp"])
            if self.since_at is not None and pinged_at < self.since_at:
                return
            if len(self.folds) >= SCORING_CALLS_MAX:
                self.skipped += 1
                return
            self.folds[call_id] = fold = FeatureFold()
        if fold is not None:
            fold.feed(name, data)

    def calls(self) -> list[LabelledCall]:
        found = []
        for call_id, fold in self.folds.items():
            features = fold.features()
            if features is not None:
                found.append(LabelledCall(call_id, features, call_id in self.converted))
        return found
