"""`ppcx-tools demo`: the whole system on a realistic market (see `tools.sim.demo`)."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from domain.invariant import present
from ppcx.commands.common import console, fail, load_settings
from ppcx.services import ServiceError, ServiceRunner

if TYPE_CHECKING:
    from ppcx.settings import Settings
    from tools.sim.demo import Driver, Outcome


def demo(
    calls: int = typer.Option(1000, min=1, max=1_000_000, help="calls to drive"),
    seed: int = typer.Option(7, help="seed of the market and the calls: same seed, same books"),
    rate: float = typer.Option(0.0, min=0.0, help="calls per second (0: as fast as possible)"),
    force: bool = typer.Option(False, help="replace a store the demo did not create"),
) -> None:
    """Start the services, build a market through the HTTP API, drive calls over their whole
    life, project, report and verify the books by replay. Stops everything it started."""
    from domain.clock import ManualClock
    from tools.sim import demo as sim
    from tools.sim.rtb_server import RtbProcess

    settings = load_settings()
    started = time.perf_counter()
    try:
        with ServiceRunner(settings).session() as endpoints:
            try:
                sim.reset_data(settings, endpoints.redis_url, force)
            except RuntimeError as error:
                raise fail(str(error)) from None
            run_settings, admin_key = sim.demo_settings(
                settings, endpoints.redis_url, endpoints.nats_url
            )
            clock = ManualClock(sim.START)
            seeds = random.Random(seed)
            rng = random.Random(seed)
            with (
                RtbProcess(sim.rtb_bidders(seed)) as rtb,
                sim.serving(run_settings, clock, lambda: seeds.getrandbits(63)) as url,
                httpx.Client(base_url=url, timeout=60) as client,
            ):
                driver = sim.Driver(client, admin_key, clock, rng)
                with console.status("building the market through the API…"):
                    names: list[str] = []
                    driver.build(rtb, names)  # each set-up command syncs Redis before answering
                m = driver.market
                late = sum(1 for name in names if rtb.bidders[name].late)
                console.print(
                    f"market: {len(m.publishers)} publishers, {len(m.buyers)} buyers "
                    f"({len(names)} bidding in real time over HTTP, {late} of them always late), "
                    f"{len(m.campaigns)} campaigns, tracking numbers and DNI pools"
                )
                callers = sim.callers_for(int(calls * 0.8), rng)
                _drive(driver, callers, calls, rate, seed)
                clock.advance(timedelta(hours=2))  # unposted bids and unfinished calls expire
                driver.sweep()
            users = sim.portal_users(run_settings, driver.market, clock.now())
            _project(run_settings)
            _print_reports(run_settings, driver.outcome)
            verdict = _verify(run_settings)
    except ServiceError as error:
        raise fail(str(error)) from None
    console.print(
        f"demo finished in {time.perf_counter() - started:.0f} s; the data stays in "
        f"{settings.resolved_data_dir}: try `ppcx report pnl --by vertical` or "
        "`ppcx sql` on the calls table."
    )
    console.print(
        f"the portal: run `ppcx serve` (or `make serve`) and open "
        f"http://{settings.api_host}:{settings.api_port}/ — sign in as "
        + ", ".join(f"{email} ({role})" for email, role in users)
        + f" with the password {sim.DEMO_PASSWORD}",
        highlight=False,
    )
    if not verdict:
        raise typer.Exit(1)


def _drive(
    driver: Driver, callers: list[tuple[str, str, str]], calls: int, rate: float, seed: int
) -> None:
    columns = (
        TextColumn("calls"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[stats]}"),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("calls", total=calls, stats="")
        began = time.perf_counter()
        for n in range(calls):
            if rate > 0:
                time.sleep(max(0.0, began + n / rate - time.perf_counter()))
            # each call draws from its own stream: one call's outcome never shifts the next's
            driver.rng = random.Random(f"{seed}-{n}")
            driver.one_call(callers)
            o = driver.outcome
            progress.update(
                task,
                advance=1,
                stats=(
                    f"{o.accepted} won · {o.posted} posted · {o.answered} answered · "
                    f"{o.billed} billed · {o.failovers} failovers · "
                    f"{(n + 1) / max(time.perf_counter() - began, 1e-9):.0f} calls/s"
                ),
            )


def _project(settings: Settings) -> None:
    from ppcx.bootstrap import build_application
    from projections.projector import Projector
    from projections.store import ProjectionStore

    app = build_application(settings)
    try:
        with console.status("projecting the log into DuckDB…"):
            store = ProjectionStore(settings.resolved_duckdb_path)
            try:
                Projector(store).run_from_log(app.store.read_chained)
                store.publish_snapshot(force=True)
            finally:
                store.close()
    finally:
        app.close()


def _table(title: str, columns: list[str], rows: list[tuple[object, ...]]) -> Table:
    from rich.text import Text

    from projections.reports import ReportResult, labels, money_columns, text_rows

    money = money_columns(columns)
    table = Table(title=title)
    for column, label in zip(columns, labels(columns), strict=True):
        table.add_column(
            label,
            justify="right"
            if column in money
            or column in ("calls", "billable", "pings", "bids", "wins", "posts", "answers")
            else "left",
        )
    for cells in text_rows(ReportResult(columns, list(rows))):
        table.add_row(*(Text(cell) for cell in cells))
    return table


def _print_reports(settings: Settings, outcome: Outcome) -> None:
    from domain.money import format_cents
    from projections.readers import open_snapshot
    from projections.reports import run_report

    con = open_snapshot(settings.resolved_duckdb_path)
    try:
        for title, name, by in (
            ("P&L by vertical", "pnl", ["vertical"]),
            ("P&L by publisher", "pnl", ["publisher"]),
            ("Attribution by source and keyword", "attribution", ["source", "keyword"]),
            ("Funnel", "funnel", []),
        ):
            result = run_report(con, name, group_by=by)
            columns = [
                c
                for c in result.columns
                if c not in ("cost_per_call_cents", "revenue_per_call_cents")
            ]
            keep = [result.columns.index(c) for c in columns]
            console.print(_table(title, columns, [tuple(r[i] for i in keep) for r in result.rows]))
        totals = con.execute(
            "SELECT count(*) FILTER (WHERE billed AND NOT reversed), "
            "sum(revenue_cents), sum(payout_cents), sum(margin_cents) "
            "FROM calls"
        ).fetchone()
    finally:
        con.close()
    billed, revenue, payout, margin = (
        int(v or 0) for v in present(totals, "a sum over the calls has a row")
    )
    console.print(
        f"[bold]books:[/] {billed} billable calls · revenue {format_cents(revenue)} · "
        f"payout {format_cents(payout)} · margin {format_cents(margin)}",
        highlight=False,
    )
    console.print(f"[bold]calls:[/] {outcome.summary()}", highlight=False)


def _verify(settings: Settings) -> bool:
    """`replay verify` over the whole log; True when every check passes."""
    from ppcx.commands.replay import verify_log

    return bool(verify_log(settings, console))
