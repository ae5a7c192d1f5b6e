"""`replay verify`'s scores check on raw rows (`replay.scores` inside `replay.calls`): a score
re-computed from the model the log recorded, the features the call's own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from domain.call import Call
from domain.catalog import topic_of
from domain.scoring import CallFeatures, LinearModel
from domain.scoring_model import SCORING_MODELS_ID, ScoringModels
from replay.calls import CallChecker

AT = datetime(2026, 11, 30, 9, tzinfo=UTC).isoformat()
TRAINED_AT = datetime(2026, 11, 30, 8, tzinfo=UTC).isoformat()
MODEL = LinearModel(-1_000_000, {"phrase=appointment": 3_000_000})
CALL = "call_1"


def _row(position: int, aggregate_id: str, topic: str, data: dict[str, Any]) -> Any:
    return (position, aggregate_id, 1, topic, orjson.dumps({"timestamp": AT, **data}), b"")


def _rows(
    score_bp: int, features: dict[str, Any], model: dict[str, Any], trained_at: str = TRAINED_AT
) -> list[Any]:
    return [
        _row(
            1,
            SCORING_MODELS_ID,
            topic_of(ScoringModels.ModelTrained),
            {"version": MODEL.version, "model": model, "timestamp": trained_at},
        ),
        _row(
            2,
            CALL,
            topic_of(Call.PingReceived),
            {
                "attribution": {"source": "google"},
                "tags": {},
                "campaign_id": "c",
                "caller_hash": "h",
            },
        ),
        _row(3, CALL, topic_of(Call.CallCompleted), {"duration_s": 40, "answered": True}),
        _row(4, CALL, topic_of(Call.PhrasesSpotted), {"phrases": ["appointment"]}),
        _row(
            5,
            CALL,
            topic_of(Call.CallScored),
            {"score_bp": score_bp, "model_version": MODEL.version, "features": features},
        ),
    ]


def _failures(rows: list[Any]) -> list[tuple[int, str]]:
    checker = CallChecker()
    checker.feed(rows)
    results = checker.results()
    return [(p, c) for p, c, _, _ in results.failures if c == "scores"]


FEATURES = CallFeatures(40, "google", None, 9, (), ("appointment",))


def test_a_faithful_score_passes_and_is_counted() -> None:
    rows = _rows(MODEL.score_bp(FEATURES), dict(FEATURES.to_json()), dict(MODEL.to_json()))
    checker = CallChecker()
    checker.feed(rows)
    assert checker.results().checked["scores"] == 1
    assert [f for f in checker.results().failures if f[1] == "scores"] == []


@pytest.mark.parametrize(
    ("score_bp", "features", "model"),
    [
        (1, FEATURES.to_json(), MODEL.to_json()),  # another score
        (  # features that are not the call's (a longer call)
            MODEL.score_bp(FEATURES),
            {**FEATURES.to_json(), "duration_s": 400},
            MODEL.to_json(),
        ),
        (  # a model whose weights are not those its version hashes
            MODEL.score_bp(FEATURES),
            FEATURES.to_json(),
            {**MODEL.to_json(), "intercept_micro": 0},
        ),
    ],
)
def test_a_score_that_the_log_does_not_give_fails(
    score_bp: int, features: dict[str, Any], model: dict[str, Any]
) -> None:
    assert _failures(_rows(score_bp, dict(features), dict(model)))


def test_a_model_never_scores_a_call_pinged_before_its_training() -> None:
    rows = _rows(MODEL.score_bp(FEATURES), dict(FEATURES.to_json()), dict(MODEL.to_json()), AT)
    assert _failures(rows) == [(5, "scores")]


def test_a_log_without_scores_names_no_scores_check() -> None:
    assert "scores" not in CallChecker().results().checked
