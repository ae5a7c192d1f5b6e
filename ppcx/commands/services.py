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
def down(
    force: bool = typer.Option(False, help="stop them even while other commands use them"),
) -> None:
    """Unpin the embedded servers and stop them, unless another command (serve, relay, …)
    still uses them: then they run until the last one ends (or use --force)."""
    runner = ServiceRunner(load_settings())
    stopped = runner.down(force=force)
    if stopped:
        console.print(f"stopped: {', '.join(stopped)}")
    elif users := runner.users():
        pids = ", ".join(map(str, users))
        console.print(f"still used by pid {pids}: they stop when it ends (--force stops them now)")
    else:
        console.print("nothing was running")


@app.command("status")
def status() -> None:
    """Show each service: external, embedded (with pid and health) or stopped."""
    table = Table("service", "kind", "url", "pid", "healthy", "detail")
    for s in ServiceRunner(load_settings()).status():
        table.add_row(
            s.name, s.kind, s.url or "-", str(s.pid or "-"), "yes" if s.healthy else "no", s.detail
        )
    console.print(table)
