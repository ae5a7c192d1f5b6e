"""`ppcx services up|down|status`: the embedded Redis and NATS servers."""

from __future__ import annotations

import typer
from rich.table import Table

from ppcx.commands.common import console, fail, load_settings
from ppcx.services import ServiceError, ServiceRunner

app = typer.Typer(help="Embedded Redis and NATS servers.", no_args_is_help=True)


@app.command("up")
def up() -> None:
    """Start (or reuse) the embedded servers; they run until `ppcx services down`."""
    try:
        endpoints = ServiceRunner(load_settings()).up()
    except ServiceError as error:
        raise fail(str(error)) from None
    console.print(f"redis  {endpoints.redis_url}\nnats   {endpoints.nats_url}")


@app.command("down")
def down() -> None:
    """Stop the embedded servers recorded in the data dir."""
    stopped = ServiceRunner(load_settings()).down()
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command("status")
def status() -> None:
    """Show each service: external, embedded (with pid and health) or stopped."""
    table = Table("service", "kind", "url", "pid", "healthy", "detail")
    for s in ServiceRunner(load_settings()).status():
        table.add_row(
            s.name, s.kind, s.url or "-", str(s.pid or "-"), "yes" if s.healthy else "no", s.detail
        )
    console.print(table)
