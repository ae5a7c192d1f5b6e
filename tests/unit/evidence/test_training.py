"""Training a lead-scoring model (issue 24, item 5's done-means): on a synthetic history where
converted calls mention 'appointment' and last longer, the stored model's AUC on held-out
calls is reported and above 0.8; the same calls give the same model; model files are named
by their hash and a tampered one is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.scoring import LinearModel
from evidence.models import ModelStore, TooFewCalls, held_out, train
from tests.unit.evidence.synthetic_scoring import synthetic_calls

AUC_BP_MIN = 8_000


def test_the_model_learns_appointments_and_long_calls_auc_above_0_8(
    capsys: pytest.CaptureFixture[str],
) -> None:
    training = train(synthetic_calls(2_000), holdout_percent=20)
    with capsys.disabled():
        print(
            f"\nlead scoring: AUC {training.auc_bp / 10_000:.4f} on {training.calls_held_out} "
            f"held-out calls ({training.calls_trained} trained), model {training.version}"
        )
    assert training.auc_bp > AUC_BP_MIN
    assert training.calls_trained + training.calls_held_out == 2_000
    assert 300 < training.calls_held_out < 500  # about 20 %
    weights = training.model.weights_micro
    assert weights["phrase=appointment"] > 0
    assert weights["duration_s>=300"] > 0
    # noise phrases weigh little next to the one that marks the outcome
    assert abs(weights.get("phrase=voicemail", 0)) < weights["phrase=appointment"] / 3


def test_the_same_calls_give_the_same_model_whatever_their_order() -> None:
    calls = synthetic_calls(600, seed=7)
    first = train(calls)
    again = train(list(reversed(calls)))
    assert first.model == again.model
    assert first.version == again.version
    assert first.auc_bp == again.auc_bp


def test_the_split_is_by_call_id_and_stable() -> None:
    ids = [f"call_{n:032x}" for n in range(1_000)]
    out = [i for i in ids if held_out(i, 20)]
    assert 150 < len(out) < 250
    assert out == [i for i in ids if held_out(i, 20)]


def test_too_few_calls_or_one_outcome_trains_nothing() -> None:
    with pytest.raises(TooFewCalls):
        train(synthetic_calls(8))
    calls = [c for c in synthetic_calls(400) if not c.converted]
    with pytest.raises(TooFewCalls):
        train(calls)


def test_model_files_are_named_by_their_hash_and_a_tampered_one_is_refused(
    tmp_path: Path,
) -> None:
    model = train(synthetic_calls(400)).model
    store = ModelStore(tmp_path / "models")
    version = store.put(model)
    assert version == model.version
    assert store.put(model) == version  # written once
    assert store.get(version) == model
    assert LinearModel.from_json(model.to_json()) == model
    path = store.path(version)
    path.write_bytes(path.read_bytes().replace(b"appointment", b"appointmenu"))
    with pytest.raises(ValueError, match="does not hash"):
        store.get(version)
    assert store.get("0" * 16) is None
