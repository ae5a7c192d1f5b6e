"""Lead scoring through the real store (issue 24, item 5): calls made by the real exchange
(some spotted saying 'appointment', some converted), `ppcx score train` on the log, the scorer
appending `CallScored` with the active model, `replay verify` re-scoring every one from the
log alone — and a tampered score, or tampered features, failing it."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from domain.base import PPCXAggregate
from domain.call import Call
from domain.catalog import topic_of
from domain.clock import ManualClock
from domain.scoring_model import SCORING_MODELS_ID, ScoringModels
from eventstore.chain import chain_key
from eventstore.stream_consumer import StreamSource
from evidence.models import ModelStore
from evidence.scorer import Scorer
from handlers import parse
from ppcx.bootstrap import Domain, ExchangeRuntime
from ppcx.cli import app as cli
from ppcx.commands.score import train_and_record
from ppcx.settings import Settings
from projections.relay import Relay
from replay.verify import Report, verify
from tests.replay.conftest import Market, market
from tests.support.exchange import caller, ping, sync
from tests.support.waiting import until

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
HISTORY = 120  # the calls a model learns from
CALLS = 40  # the calls after it, scored
DEPOSITS = ("20000.00",) * 4


def _verify(settings: Settings, domain: Domain) -> Report:
    assert settings.audit_key is not None
    return verify(domain.app.store.read_chained, chain_key(settings.audit_key), parallel=False)


def _env(settings: Settings) -> dict[str, str]:
    return {
        "PPCX_DATA_DIR": str(settings.data_dir),
        "SQLITE_DBNAME": str(settings.sqlite_dbname),
        "PPCX_AUDIT_KEY": str(settings.audit_key),
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
    }


def _spot(domain: Domain, call_id: str, phrases: list[str]) -> None:
    """What the transcriber records (e-transcribe's handler, not here): phrases spotted."""

    def change() -> tuple[list[PPCXAggregate], None]:
        call = domain.app.load(Call, call_id, "call_id")
        call.trigger_event(
            Call.PhrasesSpotted,
            recording_id=f"rec_{call_id[-8:]}",
            phrases=phrases,
            campaign_version=None,
            rule_version=1,
            timestamp=domain.clock.now(),
        )
        return [call], None

    domain.ctx.run(change, hot=(call_id,))


async def _calls(
    domain: Domain,
    runtime: ExchangeRuntime,
    clock: ManualClock,
    m: Market,
    count: int,
    seed: int,
) -> list[str]:
    """Ended calls: converted ones last longer and more often say 'appointment'."""
    rng = random.Random(seed)
    life = runtime.call_life
    ended = []
    for _ in range(count):
        n = rng.randrange(10**6)
        clock.advance(timedelta(minutes=7))
        runtime.hot.forget_snapshots()
        source = rng.choice(("google", "facebook"))
        result = await runtime.auctions.ping(
            ping(m.publisher, m.campaign, caller=caller(n), attribution={"source": source})
        )
        assert result.accepted
        await life.post(result.call_id, m.publisher)
        await life.answered(result.call_id, m.publisher)
        converted = rng.random() < 0.4
        duration_s = rng.randint(120, 600) if converted else rng.randint(20, 240)
        await life.completed(result.call_id, duration_s, m.publisher)
        sync(runtime)
        if rng.random() < (0.8 if converted else 0.15):
            _spot(domain, result.call_id, ["appointment"])
        if converted:
            domain.calls.convert_call(parse.convert_call(call_id=result.call_id, by="buyer"))
        ended.append(result.call_id)
    return ended


def _messages(domain: Domain, call_ids: list[str]) -> list[bytes]:
    """The relay's messages for the calls' events (what the scorer's consumer reads)."""
    return [
        orjson.dumps({"topic": topic, "originator_id": call_id, "originator_version": version})
        for call_id in call_ids
        for _, version, topic, _ in domain.app.store.read_aggregate(call_id)
    ]


def _scored_rows(settings: Settings) -> list[tuple[int, bytes]]:
    with sqlite3.connect(str(settings.sqlite_dbname)) as con:
        rows: list[tuple[int, bytes]] = con.execute(
            "SELECT rowid, state FROM stored_events WHERE topic = ? ORDER BY rowid",
            (topic_of(Call.CallScored),),
        ).fetchall()
    return rows


def _active_version(scorer: Scorer) -> str | None:
    active = scorer.active()
    return None if active is None else active.version


def _tamper(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b'"intercept_micro":', b'"intercept_micro":1'))


def _edit(settings: Settings, rowid: int, data: dict[str, object]) -> None:
    with sqlite3.connect(str(settings.sqlite_dbname)) as con:
        con.execute(
            "UPDATE stored_events SET state = ? WHERE rowid = ?", (orjson.dumps(data), rowid)
        )


@pytest.fixture
async def scored(
    domain: Domain, runtime: ExchangeRuntime, clock: ManualClock, settings: Settings
) -> tuple[Domain, list[str], dict[str, object]]:
    m = market(domain, runtime, deposits=DEPOSITS, caps=({"hourly": 60},) * 4)
    history = await _calls(domain, runtime, clock, m, HISTORY, seed=24)
    before = _verify(settings, domain)
    assert before.ok, before.failures[:3]
    assert "scores" not in before.checked  # no score yet: the report it always gave
    # the command line on part of the history (another model), not activated
    since = (clock.now() - timedelta(minutes=7 * HISTORY // 2)).isoformat()
    cli_run = CliRunner().invoke(
        cli,
        ["score", "train", "--since", since, "--holdout", "50", "--no-activate"],
        env=_env(settings),
    )
    assert cli_run.exit_code == 0, cli_run.output
    assert "; not activated" in cli_run.output
    # all of it, activated (the test's clock: the calls after it are scored)
    trained = train_and_record(
        settings, since_at=None, holdout_percent=20, activate=True, clock=clock
    )
    result = trained.to_dict()
    print(f"\nlead scoring through the store: {result}")
    again = CliRunner().invoke(cli, ["score", "train"], env=_env(settings))
    assert again.exit_code == 1
    assert "trained already" in again.output
    clock.advance(timedelta(minutes=1))
    ended = await _calls(domain, runtime, clock, m, CALLS, seed=25)
    scorer = Scorer(domain.scoring, ModelStore(settings.resolved_models_dir))
    assert scorer.score_all(_messages(domain, history)) == 0  # learned from: never scored
    assert scorer.score_all(_messages(domain, ended)) == CALLS
    assert scorer.score_all(_messages(domain, ended)) == 0  # redelivered: nothing new
    return domain, ended, result


async def test_train_on_the_log_score_every_call_and_verify(
    scored: tuple[Domain, list[str], dict[str, object]], settings: Settings
) -> None:
    domain, ended, result = scored
    assert result["calls_trained"] + result["calls_held_out"] == HISTORY  # type: ignore[operator]
    assert result["activated"] is True
    version = result["version"]
    assert (settings.resolved_models_dir / f"{version}.json").exists()
    models = domain.app.load(ScoringModels, SCORING_MODELS_ID, "id")
    assert models.active_version == version
    calls = [domain.app.load(Call, c, "call_id") for c in ended]
    assert {c.score_model_version for c in calls} == {version}
    said = [c.score_bp for c in calls if "appointment" in (c.score_features or {})["phrases"]]
    silent = [c.score_bp for c in calls if not (c.score_features or {})["phrases"]]
    assert sum(said) / len(said) > sum(silent) / len(silent)  # type: ignore[arg-type]
    report = _verify(settings, domain)
    assert report.ok, report.failures[:3]
    assert report.checked["scores"] == CALLS


async def test_a_tampered_score_or_feature_fails_verify(
    scored: tuple[Domain, list[str], dict[str, object]], settings: Settings
) -> None:
    domain, _, _ = scored
    rows = _scored_rows(settings)
    (first_row, first_state), (second_row, second_state) = rows[0], rows[1]
    score = orjson.loads(first_state)
    score["score_bp"] = 10_000 - score["score_bp"]
    _edit(settings, first_row, score)
    features = orjson.loads(second_state)
    features["features"]["duration_s"] += 1_000  # a longer call: a better score
    _edit(settings, second_row, features)
    report = _verify(settings, domain)
    failures = {(f.position, f.check) for f in report.failures}
    assert (first_row, "scores") in failures
    assert (second_row, "scores") in failures
    assert (first_row, "chain") in failures  # the chain catches the edit too


async def test_a_model_file_that_is_not_the_logs_stops_the_scorer(
    scored: tuple[Domain, list[str], dict[str, object]], settings: Settings
) -> None:
    domain, _, result = scored
    store = ModelStore(settings.resolved_models_dir)
    _tamper(store.path(str(result["version"])))
    with pytest.raises(ValueError, match="does not hash"):
        Scorer(domain.scoring, store).active()


async def test_the_scorer_role_scores_from_jetstream(
    domain: Domain,
    runtime: ExchangeRuntime,
    clock: ManualClock,
    settings: Settings,
    nats_stream: str,
) -> None:
    """The role's loop: the relay publishes the log, the scorer's durable consumer reads it
    and scores the calls ended after the model, acknowledging each after its score."""
    m = market(domain, runtime, deposits=DEPOSITS, caps=({"hourly": 60},) * 4)
    history = await _calls(domain, runtime, clock, m, HISTORY, seed=24)
    train_and_record(settings, since_at=None, holdout_percent=20, activate=True, clock=clock)
    clock.advance(timedelta(minutes=1))
    ended = await _calls(domain, runtime, clock, m, 10, seed=26)
    assert settings.nats_url is not None
    await Relay(
        domain.app.store.read_chained,
        domain.app.positions(),
        nats_url=settings.nats_url,
        stream=nats_stream,
        subject_prefix=settings.nats_subject_prefix,
    ).run(follow=False)
    scorer = Scorer(domain.scoring, ModelStore(settings.resolved_models_dir))
    stop = asyncio.Event()
    source = StreamSource(settings.nats_url, nats_stream, settings.nats_subject_prefix)
    task = asyncio.create_task(scorer.run(source, stop))
    try:
        await until(lambda: scorer.stats.scored == len(ended), "every call after the model")
    finally:
        stop.set()
        await task
    assert [domain.app.load(Call, c, "call_id").score_bp is None for c in history] == [
        True
    ] * HISTORY
    assert all(domain.app.load(Call, c, "call_id").score_bp is not None for c in ended)
    assert _verify(settings, domain).ok


async def test_the_command_line_activates_a_trained_model_and_refuses_an_unknown_one(
    scored: tuple[Domain, list[str], dict[str, object]], settings: Settings
) -> None:
    domain, _, result = scored
    models = domain.app.load(ScoringModels, SCORING_MODELS_ID, "id")
    older = next(v for v in models.trained if v != result["version"])  # the CLI's, inactive
    scorer = Scorer(domain.scoring, ModelStore(settings.resolved_models_dir))
    assert _active_version(scorer) == result["version"]
    runner = CliRunner()
    back = runner.invoke(cli, ["score", "activate", older], env=_env(settings))
    assert back.exit_code == 0, back.output
    assert domain.app.load(ScoringModels, SCORING_MODELS_ID, "id").active_version == older
    # the scorer reads the model in use again once the stream carries the models' event
    assert _active_version(scorer) == result["version"]
    activated = {
        "topic": topic_of(ScoringModels.ModelActivated),
        "originator_id": SCORING_MODELS_ID,
    }
    assert scorer.score_all([orjson.dumps(activated)]) == 0
    assert _active_version(scorer) == older
    again = runner.invoke(cli, ["score", "activate", older], env=_env(settings))
    assert again.exit_code == 1
    assert "active already" in again.output
    unknown = runner.invoke(cli, ["score", "activate", "0" * 16], env=_env(settings))
    assert unknown.exit_code == 1
    assert "no trained model" in unknown.output
