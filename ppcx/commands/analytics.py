"""Relay, projector, and the analysts' commands: sql, report, export."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import duckdb
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from eventstore.application import PPCXApplication
from eventstore.checkpoints import checkpoint_key
from ppcx.bootstrap import build_application
from ppcx.commands.common import (
    configure_logging,
    console,
    err_console,
    fail,
    load_settings,
    utc_time,
)
from ppcx.secrets import audit_key
from ppcx.services import ServiceError, ServiceRunner
from projections.checkpoints import CHECKPOINT_INTERVAL_S, Checkpoints
from projections.conversions import (
    ConversionFormat,
    Worth,
    conversions,
    ga4_lines,
    google_ads_csv,
)
from projections.export import export_directory, export_parquet
from projections.projector import Projector, ProjectorStats
from projections.readers import NoProjections, open_snapshot
from projections.relay import Relay
from projections.reports import (
    REPORTS,
    ReportError,
    ReportResult,
    labels,
    money_columns,
    run_report,
    text_rows,
    to_csv,
    to_json,
)
from projections.select import READ_ONLY as SELECT_READ_ONLY
from projections.select import SqlRefused, select_rows
from projections.store import ProjectionStore


class Source(StrEnum):
    log = "log"
    nats = "nats"


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} events · {task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def relay(
    follow: bool = typer.Option(False, help="keep publishing new events until stopped"),
    checkpoint_interval: float = typer.Option(
        CHECKPOINT_INTERVAL_S,
        min=0.1,
        help="seconds between signed checkpoints of the head (file and JetStream)",
    ),
) -> None:
    """Publish the event log to NATS JetStream, exactly once (Nats-Msg-Id = notification id),
    and write signed checkpoints of the head outside the store."""
    configure_logging()
    settings = load_settings()
    app = build_application(settings)
    try:
        with ServiceRunner(settings).session() as endpoints:
            worker = Relay(
                app.store.read_chained,
                app.positions(),
                nats_url=endpoints.nats_url,
                stream=settings.nats_stream,
                subject_prefix=settings.nats_subject_prefix,
                checkpoints=Checkpoints(
                    key=checkpoint_key(audit_key(settings)),
                    data_dir=settings.resolved_data_dir,
                    events_stream=settings.nats_stream,
                    events_subject_prefix=settings.nats_subject_prefix,
                    replicas=settings.nats_replicas,
                ),
                checkpoint_interval_s=checkpoint_interval,
                replicas=settings.nats_replicas,
            )
            total = app.store.head()
            started = time.perf_counter()
            with _progress() as progress:
                task = progress.add_task("relay", total=total, completed=worker.position(), rate="")

                def show(stats: object) -> None:
                    rate = worker.stats.published / max(time.perf_counter() - started, 1e-9)
                    progress.update(
                        task,
                        completed=worker.stats.position,
                        total=max(total, worker.stats.position),
                        rate=f"{rate:,.0f} msgs/s",
                    )

                async def main() -> None:
                    loop = asyncio.get_running_loop()
                    stop = asyncio.Event()
                    for sig in (signal.SIGINT, signal.SIGTERM):
                        loop.add_signal_handler(sig, stop.set)
                    await worker.run(follow=follow, stop=stop, on_progress=show)

                asyncio.run(main())
            stats = worker.stats
            console.print(
                f"relay: published {stats.published:,} events, "
                f"{stats.duplicates:,} duplicates dropped by JetStream, "
                f"position {stats.position:,}, {stats.checkpoints:,} checkpoints"
            )
    except ServiceError as error:
        raise fail(str(error)) from None
    finally:
        app.close()


def project(
    source: Source = typer.Option(Source.log, help="'log' (embedded) or 'nats' (JetStream)"),
    follow: bool = typer.Option(False, help="keep projecting new events until stopped"),
    rebuild: bool = typer.Option(False, help="drop the tables and rebuild them from zero"),
) -> None:
    """Project events into the DuckDB tables (exactly once; position kept in DuckDB)."""
    configure_logging()
    settings = load_settings()
    store = ProjectionStore(settings.resolved_duckdb_path)
    app = build_application(settings)
    try:
        if rebuild:
            store.drop()
            console.print("project: tables dropped; rebuilding from zero")
        projector = Projector(store)
        total = app.store.head()
        started = time.perf_counter()
        with _progress() as progress:
            task = progress.add_task(
                f"project ({source.value})", total=total, completed=store.position(), rate=""
            )

            def show(stats: object) -> None:
                rate = projector.stats.events / max(time.perf_counter() - started, 1e-9)
                progress.update(
                    task,
                    completed=projector.stats.position,
                    total=max(total, projector.stats.position),
                    rate=f"{rate:,.0f} events/s",
                )

            if source is Source.log:
                _project_log(projector, app, follow, show)
            else:
                with ServiceRunner(settings).session() as endpoints:
                    if rebuild:
                        asyncio.run(
                            Projector.reset_consumer(endpoints.nats_url, settings.nats_stream)
                        )

                    async def main() -> None:
                        loop = asyncio.get_running_loop()
                        stop = asyncio.Event()
                        for sig in (signal.SIGINT, signal.SIGTERM):
                            loop.add_signal_handler(sig, stop.set)
                        await projector.run_from_nats(
                            endpoints.nats_url,
                            settings.nats_stream,
                            settings.nats_subject_prefix,
                            follow=follow,
                            stop=stop,
                            on_progress=show,
                            replicas=settings.nats_replicas,
                        )

                    asyncio.run(main())
        store.publish_snapshot(force=True)
        console.print(
            f"project: {projector.stats.events:,} events in "
            f"{projector.stats.batches:,} batches, position {store.position():,}; "
            f"snapshot {store.snapshot_path}"
        )
    except ServiceError as error:
        raise fail(str(error)) from None
    finally:
        store.close()
        app.close()


def _project_log(
    projector: Projector, app: PPCXApplication, follow: bool, show: Callable[[ProjectorStats], None]
) -> None:
    select = app.store.read_chained
    stopped = {"flag": False}

    def stop_handler(signum: int, frame: object) -> None:
        stopped["flag"] = True

    previous = [signal.signal(s, stop_handler) for s in (signal.SIGINT, signal.SIGTERM)]
    try:
        while not stopped["flag"]:
            projector.run_from_log(
                select,
                on_progress=show,
                stop=lambda: stopped["flag"],
            )
            if not follow:
                break
            time.sleep(0.2)
    finally:
        for s, handler in zip((signal.SIGINT, signal.SIGTERM), previous, strict=True):
            signal.signal(s, handler)


def print_result(
    columns: list[str], rows: list[tuple[object, ...]], fmt: Format, title: str | None = None
) -> None:
    """Money in dollars under the column's name without `_cents`, in every format."""
    result = ReportResult(columns, rows)
    if fmt is Format.csv:
        sys.stdout.write(to_csv(result))
    elif fmt is Format.json:
        sys.stdout.write(to_json(result).decode() + "\n")
    else:
        money = money_columns(columns)
        table = Table(title=title)
        for column, label in zip(columns, labels(columns), strict=True):
            table.add_column(Text(label), justify="right" if column in money else "left")
        for cells in text_rows(result):
            table.add_row(*(Text(cell) for cell in cells))  # data, not markup
        console.print(table)


READ_ONLY = "`ppcx sql` is " + SELECT_READ_ONLY + "; `ppcx export --to DIR` writes Parquet"
SQL_ROWS_MAX = 1_000_000  # what `ppcx sql` prints at most (it says so when there were more)


def sql(
    query: str = typer.Argument(..., help="one read-only SELECT"),
    fmt: Format = typer.Option(Format.table, "--format", help="table, csv or json"),
) -> None:
    """Run one read-only SELECT against the projections (the published snapshot), inside
    DuckDB's sandbox: no file is read or written, no setting changed."""
    settings = load_settings()
    try:
        con = open_snapshot(settings.resolved_duckdb_path)
    except NoProjections as error:
        raise fail(str(error)) from None
    try:
        selected = select_rows(con, query, SQL_ROWS_MAX, READ_ONLY)
    except SqlRefused as error:
        raise fail(str(error)) from None
    except duckdb.Error as error:
        raise fail(str(error).strip()) from None
    finally:
        con.close()
    print_result(selected.columns, selected.rows, fmt)
    if selected.cut:
        err_console.print(f"(the first {SQL_ROWS_MAX:,} rows only)", style="yellow")


def _when(text: str | None, option: str) -> datetime | None:
    return None if text is None else utc_time(text, option, code=1)


def report(
    name: str = typer.Argument(..., help=f"one of {', '.join(REPORTS)}"),
    by: str = typer.Option("", help="dimensions, comma-separated (pnl, attribution)"),
    start: str | None = typer.Option(
        None, "--from", help="from (inclusive), RFC 3339 with an offset"
    ),
    end: str | None = typer.Option(None, "--to", help="to (exclusive), RFC 3339 with an offset"),
    fmt: Format = typer.Option(Format.table, "--format", help="table, csv or json"),
) -> None:
    """A report from the projections: pnl, attribution, funnel, buyers, repeat_callers,
    missed_calls, heatmap."""
    settings = load_settings()
    try:
        con = open_snapshot(settings.resolved_duckdb_path)
    except NoProjections as error:
        raise fail(str(error)) from None
    try:
        result = run_report(
            con,
            name,
            group_by=[d.strip() for d in by.split(",") if d.strip()],
            start=_when(start, "--from"),
            end=_when(end, "--to"),
        )
    except ReportError as error:
        raise fail(str(error)) from None
    finally:
        con.close()
    print_result(result.columns, result.rows, fmt, title=name)


export_app = typer.Typer(
    help="Export the tables to Parquet (`--to DIR`), or conversions for ad platforms.",
    invoke_without_command=True,
)


@export_app.callback()
def export(
    ctx: typer.Context,
    to: Path | None = typer.Option(None, "--to", help="directory for the Parquet files"),
) -> None:
    """Export the tables to Parquet, partitioned by day (the only command that writes files:
    under `--to`, and nowhere else); `ppcx export conversions` writes to standard output."""
    if ctx.invoked_subcommand is not None:
        return
    if to is None:
        raise fail("--to DIR is required (or: ppcx export conversions --help)", code=2)
    settings = load_settings()
    try:
        directory = export_directory(to)
    except OSError as error:
        raise fail(f"cannot create {to}: {error.strerror or error}") from None
    try:
        con = open_snapshot(settings.resolved_duckdb_path, writable_directory=directory)
    except NoProjections as error:
        raise fail(str(error)) from None
    try:
        written = export_parquet(con, directory)
    except duckdb.Error as error:
        raise fail(str(error).strip()) from None
    finally:
        con.close()
    for table, rows in written.items():
        console.print(f"{table:18s} {rows:>12,} rows", highlight=False)
    console.print(f"export: written under {directory}", markup=False, highlight=False)


@export_app.command("conversions")
def export_conversions(
    fmt: ConversionFormat = typer.Option(
        ConversionFormat.GOOGLE_ADS, "--format", help="google-ads (CSV) or ga4 (JSON lines)"
    ),
    since: str = typer.Option(..., "--from", help="first instant, RFC 3339 UTC"),
    until: str = typer.Option(..., "--until", help="end instant (excluded), RFC 3339 UTC"),
    publisher: str | None = typer.Option(None, help="only this publisher's calls (pub_…)"),
    currency: str = typer.Option("USD", help="ISO 4217 code written with each value"),
) -> None:
    """Billed and converted calls that came from an ad click, as Google Ads' offline
    click-conversion upload file or GA4 Measurement Protocol payloads, on standard output.
    With --publisher a qualified call is worth the publisher's payout, else the revenue."""
    start, end = utc_time(since, "--from"), utc_time(until, "--until")
    if end <= start:
        raise fail("--until must be after --from", code=2)
    if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        raise fail("--currency must be a three-letter code such as USD", code=2)
    settings = load_settings()
    try:
        con = open_snapshot(settings.resolved_duckdb_path)
    except NoProjections as error:
        raise fail(str(error)) from None
    try:
        found = conversions(
            con,
            start,
            end,
            publisher_id=publisher,
            worth=Worth.PAYOUT if publisher else Worth.REVENUE,
        )
    finally:
        con.close()
    if fmt == ConversionFormat.GOOGLE_ADS:
        sys.stdout.write(google_ads_csv(found, currency.upper()))
    else:
        sys.stdout.write("".join(line + "\n" for line in ga4_lines(found, currency.upper())))
