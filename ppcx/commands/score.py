"""`ppcx score …`: lead scoring — train a model on the log's own calls, activate one, run the
scorer (issue 24, item 5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson
import typer

from domain.clock import Clock
from domain.limits import SCORING_HOLDOUT_PERCENT
from ppcx.commands.common import configure_logging, console, fail, load_settings, utc_time
from ppcx.settings import Settings

score_app = typer.Typer(
    help="Lead scoring: train a model on the log's calls, activate one, run the scorer.",
    no_args_is_help=True,
)
TRAINED_BY = "cli"


@dataclass(frozen=True)
class Trained:
    version: str
    auc_bp: int
    calls_trained: int
    calls_held_out: int
    converted_trained: int
    converted_held_out: int
    activated: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "auc": self.auc_bp / 10_000,
            "auc_bp": self.auc_bp,
            "calls_trained": self.calls_trained,
            "calls_held_out": self.calls_held_out,
            "converted_trained": self.converted_trained,
            "converted_held_out": self.converted_held_out,
            "activated": self.activated,
        }


def train_and_record(
    settings: Settings,
    *,
    since_at: datetime | None,
    holdout_percent: int,
    activate: bool,
    by: str = TRAINED_BY,
    clock: Clock | None = None,
) -> Trained:
    """Read the ended calls of the log, train, write the model file, record the training
    (and activate the model) in the log."""
    from evidence.models import LogCalls, ModelStore, train
    from ppcx.bootstrap import build_domain
    from replay.log import pages

    domain = build_domain(settings, clock=clock)
    try:
        calls = LogCalls(since_at=since_at)
        for page in pages(domain.app.store.read_chained):
            calls.feed(page)
        training = train(calls.calls(), holdout_percent)
        version = ModelStore(settings.resolved_models_dir).put(training.model)
        domain.scoring.record_training(
            training.model,
            auc_bp=training.auc_bp,
            calls_trained=training.calls_trained,
            calls_held_out=training.calls_held_out,
            since_at=since_at,
            by=by,
            activate=activate,
        )
    finally:
        domain.close()
    return Trained(
        version,
        training.auc_bp,
        training.calls_trained,
        training.calls_held_out,
        training.converted_trained,
        training.converted_held_out,
        activate,
    )


@score_app.command("train")
def train_command(
    since: str | None = typer.Option(
        None, help="only calls pinged at or after this time (RFC 3339); default: all"
    ),
    holdout: int = typer.Option(
        SCORING_HOLDOUT_PERCENT.default or SCORING_HOLDOUT_PERCENT.minimum,
        min=SCORING_HOLDOUT_PERCENT.minimum,
        max=SCORING_HOLDOUT_PERCENT.maximum,
        help="percent of the calls held out to measure the model's AUC",
    ),
    activate: bool = typer.Option(
        True, "--activate/--no-activate", help="make the new model the one the scorer uses"
    ),
    json_output: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Train a lead-scoring model on the log's ended calls (label: converted), measure its
    AUC on held-out calls, write it to the models directory and record it in the log."""
    from domain.errors import DomainError
    from evidence.models import TooFewCalls

    settings = load_settings()
    since_at = utc_time(since, "--since") if since is not None else None
    try:
        trained = train_and_record(
            settings,
            since_at=since_at,
            holdout_percent=holdout,
            activate=activate,
        )
    except TooFewCalls as error:
        raise fail(f"no model trained: {error}") from None
    except DomainError as error:
        raise fail(error.message) from None
    if json_output:
        print(orjson.dumps(trained.to_dict(), option=orjson.OPT_SORT_KEYS).decode())
        return
    console.print(
        f"model {trained.version}: AUC {trained.auc_bp / 10_000:.4f} on "
        f"{trained.calls_held_out:,} held-out calls ({trained.converted_held_out:,} converted); "
        f"trained on {trained.calls_trained:,} ({trained.converted_trained:,} converted)"
        + ("; active" if trained.activated else "; not activated"),
        highlight=False,
    )


@score_app.command("activate")
def activate_command(version: str = typer.Argument(..., help="a trained model's version")) -> None:
    """Make a trained model (an older one: a rollback) the one the scorer uses."""
    from domain.errors import DomainError
    from ppcx.bootstrap import build_domain

    domain = build_domain(load_settings())
    try:
        domain.scoring.activate(version, by=TRAINED_BY)
    except DomainError as error:
        raise fail(error.message) from None
    finally:
        domain.close()
    console.print(f"model {version} is active")


@score_app.command("run")
def run_command() -> None:
    """Score ended calls as they happen: read the events from JetStream (a durable
    consumer), append each call's score by the active model. `ppcx serve` runs it when
    PPCX_SCORER is on."""
    from ppcx.roles import Role, run_scorer

    configure_logging(role=Role.SCORER.value)
    try:
        run_scorer(load_settings())
    except RuntimeError as error:
        raise fail(str(error)) from None
