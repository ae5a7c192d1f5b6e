"""The `ppcx` command line: an entry point that only translates arguments and calls."""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from ppcx.commands import analytics, api, bench, services
from ppcx.commands.common import console, err_console, fail, load_settings
from ppcx.services import ServiceError, ServiceRunner

app = typer.Typer(
    name="ppcx",
    help="PPCX: a self-hostable pay-per-call exchange with an event-sourced ledger.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(services.app, name="services")
app.add_typer(bench.app, name="bench")
app.command("relay")(analytics.relay)
app.command("project")(analytics.project)
app.command("sql")(analytics.sql)
app.command("report")(analytics.report)
app.command("export")(analytics.export)
app.command("serve")(api.serve)
app.add_typer(api.keys_app, name="keys")


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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
