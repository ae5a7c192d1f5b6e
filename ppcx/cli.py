"""The `ppcx` command line: an entry point that only translates arguments and calls."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.table import Table

from ppcx.bench.report import Figure
from ppcx.services import ServiceError, ServiceRunner
from ppcx.settings import Settings

app = typer.Typer(
    name="ppcx",
    help="PPCX: a self-hostable pay-per-call exchange with an event-sourced ledger.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
services_app = typer.Typer(help="Embedded Redis and NATS servers.", no_args_is_help=True)
app.add_typer(services_app, name="services")
bench_app = typer.Typer(
    help="Benchmarks: figures next to same-run baselines.", no_args_is_help=True
)
app.add_typer(bench_app, name="bench")
BENCHMARKS_MD = "BENCHMARKS.md"

console = Console()
err_console = Console(stderr=True)


def load_settings() -> Settings:
    return Settings()


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


# -- services --------------------------------------------------------------------------------


@services_app.command("up")
def services_up() -> None:
    """Start (or reuse) the embedded servers; they run until `ppcx services down`."""
    runner = ServiceRunner(load_settings())
    try:
        endpoints = runner.up()
    except ServiceError as error:
        raise fail(str(error)) from None
    console.print(f"redis  {endpoints.redis_url}\nnats   {endpoints.nats_url}")


@services_app.command("down")
def services_down() -> None:
    """Stop the embedded servers recorded in the data dir."""
    stopped = ServiceRunner(load_settings()).down()
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@services_app.command("status")
def services_status() -> None:
    """Show each service: external, embedded (with pid and health) or stopped."""
    table = Table("service", "kind", "url", "pid", "healthy", "detail")
    statuses = ServiceRunner(load_settings()).status()
    for s in statuses:
        table.add_row(
            s.name, s.kind, s.url or "-", str(s.pid or "-"), "yes" if s.healthy else "no", s.detail
        )
    console.print(table)


# -- commands whose work lands with later issues ------------------------------------------------


def _not_yet(what: str, issue: int) -> typer.Exit:
    return fail(f"{what} arrives with issue #{issue}; this build does not have it yet", code=2)


@app.command("serve")
def serve(
    host: str | None = typer.Option(None, help="bind address (default: PPCX_API_HOST)"),
    port: int | None = typer.Option(None, help="port (default: PPCX_API_PORT)"),
    workers: int | None = typer.Option(None, help="uvicorn workers (default: PPCX_API_WORKERS)"),
) -> None:
    """Serve the HTTP API."""
    raise _not_yet("the HTTP API", 5)


@app.command("relay")
def relay(once: bool = typer.Option(False, help="publish what is there, then exit")) -> None:
    """Publish the event log to NATS JetStream, exactly once."""
    raise _not_yet("the relay", 6)


@app.command("project")
def project(
    source: str = typer.Option("log", help="'nats' (JetStream consumer) or 'log' (embedded)"),
    follow: bool = typer.Option(False, help="keep running and project new events"),
    rebuild: bool = typer.Option(False, help="drop the tables and rebuild from zero"),
) -> None:
    """Project events into the DuckDB tables."""
    raise _not_yet("the projector", 6)


@app.command("demo")
def demo(
    calls: int = typer.Option(1000, min=1, help="calls to drive through the exchange"),
    seed: int = typer.Option(7, help="seed of the simulated market"),
    rate: float = typer.Option(0.0, min=0.0, help="calls per second (0: as fast as possible)"),
) -> None:
    """Start the services and run the demo (a minimal run until the demo issue lands)."""
    import asyncio

    import nats
    import redis

    settings = load_settings()
    runner = ServiceRunner(settings)
    table = Table("step", "result")
    try:
        with runner.session() as endpoints:
            client = redis.Redis.from_url(endpoints.redis_url)
            table.add_row("redis", f"{endpoints.redis_url}  PING -> {client.ping()}")
            client.close()

            async def jetstream_info() -> str:
                connection = await nats.connect(endpoints.nats_url)
                try:
                    info = await connection.jetstream().account_info()
                    return f"JetStream on, {info.streams} streams"
                finally:
                    await connection.close()

            table.add_row("nats", f"{endpoints.nats_url}  {asyncio.run(jetstream_info())}")
    except ServiceError as error:
        raise fail(str(error)) from None
    table.add_row("market", f"not simulated yet ({calls} calls, seed {seed}): issue #8")
    console.print(table)
    console.print("demo: services started, checked and stopped; nothing else was run.")


# -- benchmarks --------------------------------------------------------------------------------


def _publish(
    name: str, title: str, command: str, figures: list[Figure], notes: list[str], write: bool
) -> None:
    from pathlib import Path

    from ppcx.bench.report import markdown, render, write_section

    render(title, figures, console)
    if write:
        write_section(Path(BENCHMARKS_MD), name, markdown(title, command, figures, notes))
        console.print(f"written to {BENCHMARKS_MD} (section {name})")


@bench_app.command("store")
def bench_store(
    calls: int = typer.Option(20_000, min=100, help="call aggregates appended in batches"),
    write: bool = typer.Option(False, help=f"update the section in {BENCHMARKS_MD}"),
) -> None:
    """Event-store append and read throughput (SQLite, PostgreSQL) vs raw SQLite."""
    from ppcx.bench import store

    figures = store.run(load_settings(), console, calls=calls)
    notes = [
        "Each call aggregate is 5 events (ping, three bids, auction decision), ~300 bytes each.",
        "The append path includes orjson encoding and the keyed audit-chain link per event; "
        "the raw baseline inserts the already-encoded rows.",
    ]
    _publish("store", "Event store", f"ppcx bench store --calls {calls}", figures, notes, write)


@bench_app.command("exchange")
def bench_exchange(
    pings: int = typer.Option(400, min=20, help="pings per scenario"),
    write: bool = typer.Option(False, help=f"update the section in {BENCHMARKS_MD}"),
) -> None:
    """Ping → decision latency for 10/100/1,000 standing bids and 20 RTB bidders."""
    from ppcx.bench import exchange

    settings = load_settings()
    with ServiceRunner(settings).session() as endpoints:
        figures = exchange.run(settings, endpoints.redis_url, console, pings=pings)
    notes = [
        "Decision = ping received → eligibility, bids, ranking and the winner's atomic "
        "reservation in Redis; durable = plus appending the auction's events (one per bid) "
        "and the winner's hold in one SQLite transaction.",
        "RTB: 17 bidders answer in 5–135 ms (±10 ms jitter), two answer after the deadline, "
        "one declines; all are real HTTP servers on loopback.",
    ]
    _publish("exchange", "Exchange", f"ppcx bench exchange --pings {pings}", figures, notes, write)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
