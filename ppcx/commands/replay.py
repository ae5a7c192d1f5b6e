"""`ppcx replay …`: finance's audit from the log alone."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from eventstore.chain import DIGEST_SIZE
from eventstore.checkpoints import Checkpoint
from ppcx.commands.common import console, fail, load_settings, utc_time
from ppcx.settings import Settings
from replay.evidence import EvidenceSources

app = typer.Typer(
    help="Replay and audit: verify the log, rebuild any past state.", no_args_is_help=True
)


def _progress(out: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[rate]}"),
        console=out,
        transient=False,
    )


@dataclass(frozen=True)
class FoundCheckpoint:
    checkpoint: Checkpoint
    source: str  # "file" or "jetstream"

    def describe(self) -> dict[str, object]:
        return {
            "position": self.checkpoint.position,
            "link": self.checkpoint.link.hex(),
            "at": self.checkpoint.at.isoformat(),
            "source": self.source,
        }


def newest_checkpoint(settings: Settings) -> tuple[FoundCheckpoint | None, list[str]]:
    """The newest checkpoint whose signature verifies, from the data dir's file and from
    JetStream (when NATS is configured or the embedded one runs); and the problems found
    (a garbled or forged checkpoint is evidence of tampering)."""
    import asyncio

    from eventstore.checkpoints import checkpoint_key, read_file, valid
    from ppcx.secrets import audit_key
    from ppcx.services import ServiceRunner
    from projections.checkpoints import newest_published

    key = checkpoint_key(audit_key(settings))
    candidates: list[FoundCheckpoint] = []
    problems: list[str] = []
    try:
        found = read_file(settings.resolved_data_dir)
        if found is not None:
            candidates.append(FoundCheckpoint(found, "file"))
    except ValueError as error:
        problems.append(f"the data dir's checkpoint is garbled ({error})")
    nats_url = settings.nats_url
    if nats_url is None:
        state = ServiceRunner(settings).read_state("nats")
        nats_url = state.url if state is not None else None
    if nats_url is not None:
        try:
            published = asyncio.run(
                newest_published(nats_url, settings.nats_stream, settings.nats_subject_prefix)
            )
            if published is not None:
                candidates.append(FoundCheckpoint(published, "jetstream"))
        except ValueError as error:
            problems.append(f"JetStream's newest checkpoint is garbled ({error})")
    for candidate in candidates:
        if not valid(key, candidate.checkpoint):
            problems.append(
                f"the checkpoint from {candidate.source} (position "
                f"{candidate.checkpoint.position}) is not signed with this deployment's key"
            )
    signed = [c for c in candidates if valid(key, c.checkpoint)]
    newest = max(signed, key=lambda c: c.checkpoint.position, default=None)
    return newest, problems


def evidence_sources(
    settings: Settings, read_aggregate: Callable[[str], Sequence[tuple[str, int, str, bytes]]]
) -> EvidenceSources:
    """The stores `replay verify` checks call evidence against: the transcripts directory,
    and a call's campaign read from its first stored event."""
    from evidence.transcripts import TranscriptStore

    def campaign_of(call_id: str) -> str | None:
        rows = read_aggregate(call_id)
        if not rows:
            return None
        campaign_id = orjson.loads(rows[0][3]).get("campaign_id")
        return str(campaign_id) if campaign_id is not None else None

    return EvidenceSources(TranscriptStore(settings.resolved_transcripts_dir).read, campaign_of)


def verify_log(
    settings: Settings,
    out: Console,
    json_path: Path | None = None,
    expect_head: int | None = None,
    expect_link: bytes | None = None,
    *,
    use_checkpoints: bool = True,
) -> bool:
    """Verify the whole log with a progress bar; print the verdict; True when it passes.
    Without an expected head given, the newest signed checkpoint found outside the store is
    the expectation (events deleted from the log's end are then a failure)."""
    from eventstore.chain import chain_key
    from ppcx.bootstrap import build_application, recording_store
    from ppcx.secrets import audit_key
    from replay.verify import Report, verify

    checkpoint: FoundCheckpoint | None = None
    problems: list[str] = []
    if use_checkpoints and expect_head is None:
        checkpoint, problems = newest_checkpoint(settings)
        if checkpoint is not None:
            expect_head, expect_link = checkpoint.checkpoint.position, checkpoint.checkpoint.link

    app_ = build_application(settings)
    try:
        total = app_.store.head()
        started = time.perf_counter()
        with _progress(out) as progress:
            task = progress.add_task("verify", total=total, rate="")

            def show(report: Report) -> None:
                seconds = max(time.perf_counter() - started, 1e-9)
                progress.update(
                    task, completed=report.head, rate=f"{report.events / seconds:,.0f} events/s"
                )

            report = verify(
                app_.store.read_chained,
                chain_key(audit_key(settings)),
                on_page=show,
                expect_head=expect_head,
                expect_link=expect_link,
                recordings=recording_store(settings),
                evidence=evidence_sources(settings, app_.store.read_aggregate),
            )
        seconds = time.perf_counter() - started
    finally:
        app_.close()
    for problem in problems:
        out.print(f"[red]✗[/] checkpoint: {problem}", highlight=False)
    if checkpoint is not None:
        c = checkpoint.checkpoint
        out.print(
            f"checked against the checkpoint from {checkpoint.source}: position {c.position}, "
            f"taken {c.at.isoformat()}",
            highlight=False,
        )
    elif use_checkpoints and expect_head is None:
        out.print(
            "[yellow]no checkpoint found[/]: events deleted from the end of the log would go "
            "unnoticed (the relay writes one every few seconds; `ppcx serve` runs it)",
            highlight=False,
        )
    if json_path is not None:
        document = report.to_dict()
        document["checkpoint"] = checkpoint.describe() if checkpoint is not None else None
        document["checkpoint_problems"] = problems
        json_path.write_bytes(
            orjson.dumps(document, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
        )
    for failure in sorted(report.failures)[:20]:
        out.print(
            f"[red]✗[/] position {failure.position} · {failure.check} · "
            f"{failure.aggregate_id}: {failure.message}",
            highlight=False,
        )
    checked = ", ".join(f"{k} {v:,}" for k, v in report.checked.items())
    if report.ok:
        out.print(
            f"[bold green]verified[/]: {report.events:,} events in {seconds:.1f} s "
            f"({report.events / max(seconds, 1e-9):,.0f} events/s); checked {checked}; "
            f"head {report.head} link {report.head_link}",
            highlight=False,
        )
    else:
        out.print(
            f"[bold red]verification FAILED[/]: {report.failure_count} failure(s) in "
            f"{report.events:,} events; checked {checked}",
            highlight=False,
        )
        if report.events and report.failure_count >= report.events:
            out.print("every link fails: is this the deployment's audit key (PPCX_AUDIT_KEY)?")
    return report.ok and not problems


def _link(value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        link = bytes.fromhex(value)
    except ValueError:
        raise fail("--expect-link must be the hex link a previous report gave", code=2) from None
    if len(link) != DIGEST_SIZE:
        raise fail(f"--expect-link must be {DIGEST_SIZE} bytes (hex)", code=2)
    return link


@app.command("verify")
def verify_command(
    json: Path | None = typer.Option(None, "--json", help="write the report as JSON here"),
    expect_head: int | None = typer.Option(
        None,
        help="a head recorded by an earlier audit: the log must still reach this notification "
        "id (nothing removed from its end)",
    ),
    expect_link: str | None = typer.Option(
        None,
        help="with --expect-head: the link the earlier audit recorded there (head_link); the "
        "log up to that head must be unchanged",
    ),
    checkpoints: bool = typer.Option(
        True,
        help="without --expect-head, check the log against the newest signed checkpoint "
        "the relay wrote outside the store (the data dir's file, JetStream)",
    ),
) -> None:
    """Verify the chain, the ledger, every bill, route and auction, and the log's reach
    against the newest checkpoint; exit 0 only if all pass."""
    if expect_link is not None and expect_head is None:
        raise fail("--expect-link needs --expect-head", code=2)
    ok = verify_log(
        load_settings(),
        console,
        json,
        expect_head,
        _link(expect_link),
        use_checkpoints=checkpoints,
    )
    if not ok:
        raise typer.Exit(1)


@app.command("asof")
def asof(
    at: str = typer.Option(..., "--at", help="the moment, RFC 3339 with an offset"),
    to: Path | None = typer.Option(
        None, "--to", help="the DuckDB file to write (default: <data dir>/asof-<time>.duckdb)"
    ),
) -> None:
    """Balances, open holds, P&L and attribution as they stood at `--at`, rebuilt from the
    log into a DuckDB file of their own (the live projections are not touched)."""
    from ppcx.bootstrap import build_application
    from replay.asof import rebuild_as_of

    settings = load_settings()
    moment = utc_time(at, "--at")
    target = to or settings.resolved_data_dir / f"asof-{moment:%Y%m%dT%H%M%SZ}.duckdb"
    app_ = build_application(settings)
    try:
        with console.status(f"replaying the log up to {moment.isoformat()}…"):
            summary = rebuild_as_of(app_.store.read_chained, moment, target)
    finally:
        app_.close()
    console.print(
        f"as of {moment.isoformat()}: {summary['events']:,} events → {target}; "
        f"{summary['accounts']} accounts, {summary['open_holds']} open holds, "
        f'{summary["calls"]} calls. Query it: PPCX_DUCKDB_PATH={target} ppcx sql "…"',
        highlight=False,
    )


@app.command("rehydrate-redis")
def rehydrate_redis() -> None:
    """Rebuild Redis's hot state from the log after Redis lost it: configuration, funds,
    block list, open reservations (concurrency, holds, the sweeper's queue), this hour's,
    day's and month's cap counts, the duplicate index, unposted bids and round-robin cursors.
    Run it with the exchange stopped: it replaces every market's keys."""
    from domain.clock import SystemClock
    from ppcx.bootstrap import build_application
    from ppcx.services import ServiceError, ServiceRunner
    from replay.rehydrate import rehydrate

    settings = load_settings()
    app_ = build_application(settings)
    try:
        with ServiceRunner(settings).session() as endpoints, console.status("rehydrating…"):
            from exchange.redis_clients import sync_client

            client = sync_client(endpoints.redis_url, cluster=settings.redis_cluster)
            try:
                summary = rehydrate(app_, client, settings.redis_prefix, SystemClock().now())
            finally:
                client.close()
    except ServiceError as error:
        raise fail(str(error)) from None
    finally:
        app_.close()
    console.print("rehydrated: " + ", ".join(f"{k} {v}" for k, v in summary.items()))


@app.command("statement")
def statement(
    account: str = typer.Option(..., help="buyer:<id> (an invoice) or publisher:<id>"),
    start: str = typer.Option(..., "--from", help="from (inclusive), RFC 3339 with an offset"),
    end: str = typer.Option(..., "--to", help="to (exclusive), RFC 3339 with an offset"),
) -> None:
    """A buyer's invoice or a publisher's statement for a period, from the log alone (the
    API serves the same document from the projections)."""
    import orjson

    from domain.buyer import Buyer
    from domain.publisher import Publisher
    from ppcx.bootstrap import build_application
    from replay.statements import statement_from_log

    if not account.startswith(("buyer:", "publisher:")) or account.endswith(":"):
        raise fail("--account must be buyer:<id> or publisher:<id>", code=2)
    settings = load_settings()
    begins, ends = utc_time(start, "--from"), utc_time(end, "--to")
    if begins >= ends:
        raise fail("--from must be before --to", code=2)
    kind, owner_id = account.split(":", maxsplit=1)
    holder: type[Buyer] | type[Publisher] = Buyer if kind == "buyer" else Publisher
    app_ = build_application(settings)
    try:
        if app_.find(holder, owner_id) is None:
            raise fail(f"{kind} {owner_id!r} does not exist in the log", code=1)
        document = statement_from_log(app_.store.read_chained, account, begins, ends)
    finally:
        app_.close()
    print(orjson.dumps(document.to_dict(), option=orjson.OPT_INDENT_2).decode())
