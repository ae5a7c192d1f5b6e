"""The `ppcx` command line: an entry point that only translates arguments and calls."""

from __future__ import annotations

import sys

import typer

from ppcx.commands import analytics, api, replay, score, services, setup, targets, users
from ppcx.commands.common import err_console

app = typer.Typer(
    name="ppcx",
    help="PPCX: a self-hostable pay-per-call exchange with an event-sourced ledger.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
app.add_typer(services.app, name="services")
app.command("relay")(analytics.relay)
app.command("project")(analytics.project)
app.command("sql")(analytics.sql)
app.command("report")(analytics.report)
app.add_typer(analytics.export_app, name="export")
app.command("serve")(api.serve)
app.command("webhooks")(api.webhooks)
app.command("transcriber")(api.transcriber)
app.add_typer(api.keys_app, name="keys")
api.keys_app.command("list")(setup.list_keys)
setup.targets_app.command("set")(targets.set_target)  # one `ppcx targets`: list, show, set
app.add_typer(setup.targets_app, name="targets")
app.add_typer(setup.campaigns_app, name="campaigns")
app.add_typer(replay.app, name="replay")
app.add_typer(users.users_app, name="users")
app.add_typer(score.score_app, name="score")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
