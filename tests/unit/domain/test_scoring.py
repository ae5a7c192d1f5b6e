"""Lead scoring's pure half (`domain.scoring`): a call's features from its events, the tokens
a model weighs, the model's score and its version (its hash)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.invariant import InvariantViolation
from domain.scoring import (
    COMPLETED,
    PHRASES,
    PING,
    CallFeatures,
    FeatureFold,
    LinearModel,
    features_of,
    is_model_version,
    model_version,
)

AT = datetime(2026, 11, 30, 14, 5, tzinfo=UTC)


def _ping(**changes: object) -> dict[str, object]:
    return {
        "timestamp": AT.isoformat(),
        "attribution": {"source": "google", "keyword": "plumber", "medium": "cpc"},
        "tags": {"insured": "yes"},
        **changes,
    }


def test_features_come_from_the_ping_the_end_and_the_phrases() -> None:
    found = features_of(
        [
            (PING, _ping()),
            ("Call.CallAnswered", {"attempt": 1}),
            (COMPLETED, {"duration_s": 95, "answered": True}),
            (PHRASES, {"phrases": ["appointment", "price"]}),
            (PHRASES, {"phrases": ["appointment"]}),
        ]
    )
    assert found == CallFeatures(
        95, "google", "plumber", 14, (("insured", "yes"),), ("appointment", "price")
    )


def test_a_call_that_has_not_ended_has_no_features() -> None:
    assert features_of([(PING, _ping())]) is None
    assert features_of([(COMPLETED, {"duration_s": 3})]) is None


def test_the_hour_is_utc_whatever_the_offset_and_raw_json_reads_the_same() -> None:
    local = AT.astimezone(timezone(timedelta(hours=-5)))
    fold = FeatureFold()
    fold.feed(PING, {**_ping(), "timestamp": local})
    fold.feed(COMPLETED, {"duration_s": 0})
    assert fold.features() is not None
    assert fold.features().hour == 14  # type: ignore[union-attr]


def test_absent_attribution_gives_no_token_and_durations_are_ordinal() -> None:
    features = features_of(
        [(PING, _ping(attribution={}, tags={})), (COMPLETED, {"duration_s": 61})]
    )
    assert features is not None
    assert features.source is None
    assert features.keyword is None
    assert features.tokens() == {
        "hour=14",
        "duration_s>=1",
        "duration_s>=15",
        "duration_s>=30",
        "duration_s>=60",
    }


def test_features_round_trip_through_their_stored_json() -> None:
    features = CallFeatures(30, "bing", None, 3, (("a", "1"), ("b", "2")), ("x", "y"))
    assert CallFeatures.from_json(features.to_json()) == features


def test_a_score_is_the_logistic_of_the_weights_in_basis_points() -> None:
    features = CallFeatures(120, "google", None, 9, (), ("appointment",))
    assert LinearModel(0, {}).score_bp(features) == 5_000
    model = LinearModel(-1_000_000, {"phrase=appointment": 3_000_000, "source=google": 0})
    assert model.score_bp(features) == 8_808  # 1 / (1 + e^-2)
    assert LinearModel(-50_000_000, {}).score_bp(features) == 0
    assert LinearModel(50_000_000, {}).score_bp(features) == 10_000


def test_a_models_version_is_its_canonical_jsons_hash() -> None:
    model = LinearModel(-5, {"b": 2, "a": 1})
    assert model.canonical() == (
        b'{"features_version":1,"intercept_micro":-5,"kind":"logistic-tokens-v1",'
        b'"weights_micro":{"a":1,"b":2}}'
    )
    assert model.version == model_version(model.canonical())
    assert is_model_version(model.version)
    assert LinearModel(-5, {"a": 1, "b": 2}).version == model.version
    assert LinearModel(-5, {"a": 1, "b": 3}).version != model.version
    assert not is_model_version("ABC")


def test_a_model_of_another_kind_or_with_fractions_is_refused() -> None:
    good = LinearModel(1, {"a": 2}).to_json()
    with pytest.raises(InvariantViolation):
        LinearModel.from_json({**good, "kind": "pickle"})
    with pytest.raises(InvariantViolation):
        LinearModel.from_json({**good, "weights_micro": {"a": 0.5}})


def test_the_models_aggregate_records_trainings_and_activations() -> None:
    from domain.errors import Conflict, NotFound
    from domain.scoring_model import SCORING_MODELS_ID, ScoringModels, model_of

    model = LinearModel(-1, {"a": 2})
    models = ScoringModels(id=SCORING_MODELS_ID, by="cli", timestamp=AT)
    models.check_train(model, 8_000)
    models.record_training(
        version=model.version,
        features_version=1,
        auc_bp=8_000,
        calls_trained=80,
        calls_held_out=20,
        since_at=None,
        model=dict(model.to_json()),
        by="cli",
        timestamp=AT,
    )
    assert models.active_version is None
    models.check_activate(model.version)
    models.activate(version=model.version, by="cli", timestamp=AT)
    assert models.active_trained_at == AT
    with pytest.raises(Conflict):
        models.check_train(model, 8_000)  # the same model twice
    with pytest.raises(Conflict):
        models.check_activate(model.version)
    with pytest.raises(NotFound):
        models.check_activate("0" * 16)
    assert model_of(model.to_json(), model.version) == model
    with pytest.raises(InvariantViolation):
        model_of(model.to_json(), "0" * 16)  # a model recorded under another's version


def test_serve_runs_the_scorer_only_when_it_is_on() -> None:
    from ppcx.roles import Role, default_roles
    from ppcx.settings import Settings

    assert Role.SCORER not in default_roles(Settings())
    assert default_roles(Settings(scorer=True)) == frozenset(Role) - {Role.TRANSCRIBER}
    assert default_roles(Settings(scorer=True, transcriber=True)) == frozenset(Role)
