"""Lead scoring's pure half: a call's features from its own events, and a scoring model as
plain numbers (issue 24, item 5).

A call's features (`CallFeatures`, version `SCORING_FEATURES_VERSION`) are read from its
events only (`FeatureFold`): the ping's attribution source and keyword, its tags (the IVR's
answers), the hour of day of the ping (UTC), the call's duration, and the phrases spotted in
its recordings (`Call.PhrasesSpotted`). The scorer, the trainer and `replay verify` all fold
the same events through the same code, so a recorded `Call.CallScored` can be checked.

A model (`LinearModel`) is a logistic regression over the features' tokens (one-hot words:
`source=google`, `phrase=appointment`, `duration_s>=60`…), its weights whole numbers of
millionths (no float is stored), written as canonical JSON: its version is the SHA-256 of that
JSON, so a model file and the model recorded in the log (`ScoringModels.ModelTrained`) name
themselves. Training (scikit-learn) is the adapter's (`evidence.models`); scoring is here.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict

from domain.invariant import invariant
from domain.limits import SCORE_BP, SCORING_TOKEN_LENGTH_MAX, SCORING_WEIGHTS_MAX

SCORING_FEATURES_VERSION = 1
MODEL_KIND = "logistic-tokens-v1"
WEIGHT_SCALE = 1_000_000  # a weight is stored in millionths
MODEL_VERSION_HEX = 16  # a model's version: the first hex digits of its SHA-256
# a duration's tokens: one for each of these it reaches (`duration_s>=60`), so longer calls
# carry the shorter calls' tokens too (an ordinal encoding a linear model can weigh)
DURATION_STEPS_S = (1, 15, 30, 60, 120, 180, 300, 600, 1200)

# the events a call's features are read from (`Aggregate.Event`, as the log names them)
PING = "Call.PingReceived"
COMPLETED = "Call.CallCompleted"
PHRASES = "Call.PhrasesSpotted"
FEATURE_EVENTS = frozenset({PING, COMPLETED, PHRASES})


class FeaturesJson(TypedDict):
    """`CallFeatures` as stored in `Call.CallScored.features`."""

    version: int
    duration_s: int
    source: str | None
    keyword: str | None
    hour: int
    tags: dict[str, str]
    phrases: list[str]


class ModelJson(TypedDict):
    """`LinearModel` as stored (a model file, `ScoringModels.ModelTrained.model`)."""

    kind: str
    features_version: int
    intercept_micro: int
    weights_micro: dict[str, int]


def _clip(text: object) -> str | None:
    if text is None or text == "":
        return None
    return str(text)[:SCORING_TOKEN_LENGTH_MAX]


@dataclass(frozen=True, slots=True)
class CallFeatures:
    duration_s: int
    source: str | None
    keyword: str | None
    hour: int  # of day, UTC, of the ping
    tags: tuple[tuple[str, str], ...] = ()  # sorted by name
    phrases: tuple[str, ...] = ()  # sorted, each once
    version: int = SCORING_FEATURES_VERSION

    def __post_init__(self) -> None:
        invariant(self.duration_s >= 0, "a duration is never negative")
        invariant(0 <= self.hour <= 23, "an hour of day is 0..23")

    def tokens(self) -> frozenset[str]:
        """The one-hot words a model weighs (absent values give no word)."""
        found = {f"hour={self.hour}"}
        found.update(f"duration_s>={s}" for s in DURATION_STEPS_S if self.duration_s >= s)
        if self.source is not None:
            found.add(f"source={self.source}")
        if self.keyword is not None:
            found.add(f"keyword={self.keyword}")
        found.update(f"tag:{name}={value}" for name, value in self.tags)
        found.update(f"phrase={phrase}" for phrase in self.phrases)
        return frozenset(t[:SCORING_TOKEN_LENGTH_MAX] for t in found)

    def to_json(self) -> FeaturesJson:
        return {
            "version": self.version,
            "duration_s": self.duration_s,
            "source": self.source,
            "keyword": self.keyword,
            "hour": self.hour,
            "tags": dict(self.tags),
            "phrases": list(self.phrases),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CallFeatures:
        return cls(
            int(data["duration_s"]),
            data["source"],
            data["keyword"],
            int(data["hour"]),
            tuple(sorted((str(k), str(v)) for k, v in data["tags"].items())),
            tuple(sorted(set(data["phrases"]))),
            int(data["version"]),
        )


@dataclass(slots=True)
class FeatureFold:
    """A call's features so far, from its events in log order (`feed`: the event's name and
    its stored fields). `features()` is None until the call has completed."""

    source: str | None = None
    keyword: str | None = None
    hour: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    duration_s: int | None = None
    phrases: set[str] = field(default_factory=set)

    def feed(self, name: str, state: Mapping[str, Any]) -> None:
        if name == PING:
            attribution = state.get("attribution") or {}
            self.source = _clip(attribution.get("source"))
            self.keyword = _clip(attribution.get("keyword"))
            self.hour = _hour_of(state["timestamp"])
            self.tags = {str(k): str(v) for k, v in (state.get("tags") or {}).items()}
        elif name == COMPLETED:
            self.duration_s = int(state["duration_s"])
        elif name == PHRASES:
            self.phrases.update(str(p) for p in state["phrases"])

    def features(self) -> CallFeatures | None:
        if self.hour is None or self.duration_s is None:
            return None
        return CallFeatures(
            self.duration_s,
            self.source,
            self.keyword,
            self.hour,
            tuple(sorted(self.tags.items())),
            tuple(sorted(self.phrases)),
        )


def _hour_of(stamp: datetime | str) -> int:
    at = stamp if isinstance(stamp, datetime) else datetime.fromisoformat(stamp)
    invariant(at.utcoffset() is not None, "an event's time is aware (UTC)")
    return at.astimezone(UTC).hour


def features_of(events: Iterable[tuple[str, Mapping[str, Any]]]) -> CallFeatures | None:
    fold = FeatureFold()
    for name, state in events:
        fold.feed(name, state)
    return fold.features()


# -- the model -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinearModel:
    """A logistic regression over tokens: P(converted) = 1 / (1 + e^-(b + Σ w_t))."""

    intercept_micro: int
    weights_micro: Mapping[str, int]
    features_version: int = SCORING_FEATURES_VERSION

    def __post_init__(self) -> None:
        invariant(len(self.weights_micro) <= SCORING_WEIGHTS_MAX, "a model's size is bounded")

    def logit_micro(self, features: CallFeatures) -> int:
        weights = self.weights_micro
        return self.intercept_micro + sum(weights.get(t, 0) for t in features.tokens())

    def score_bp(self, features: CallFeatures) -> int:
        """The probability of conversion in basis points (0..10000)."""
        invariant(features.version == self.features_version, "features of the model's version")
        logit = self.logit_micro(features) / WEIGHT_SCALE
        if logit >= 0:
            probability = 1.0 / (1.0 + math.exp(-logit))
        else:
            odds = math.exp(logit)
            probability = odds / (1.0 + odds)
        score = round(probability * SCORE_BP.maximum)
        invariant(score in SCORE_BP, "a score is 0..10000 basis points")
        return score

    def to_json(self) -> ModelJson:
        return {
            "kind": MODEL_KIND,
            "features_version": self.features_version,
            "intercept_micro": self.intercept_micro,
            "weights_micro": dict(sorted(self.weights_micro.items())),
        }

    def canonical(self) -> bytes:
        """The model's stored bytes: sorted keys, no blanks, UTF-8."""
        return json.dumps(
            self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()

    @property
    def version(self) -> str:
        return model_version(self.canonical())

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LinearModel:
        invariant(data.get("kind") == MODEL_KIND, f"a model of kind {MODEL_KIND}")
        weights = data["weights_micro"]
        invariant(
            all(type(w) is int for w in weights.values()) and type(data["intercept_micro"]) is int,
            "a model's weights are whole millionths",
        )
        return cls(int(data["intercept_micro"]), dict(weights), int(data["features_version"]))


def model_version(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()[:MODEL_VERSION_HEX]


def is_model_version(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) == MODEL_VERSION_HEX
        and all(c in "0123456789abcdef" for c in value)
    )
